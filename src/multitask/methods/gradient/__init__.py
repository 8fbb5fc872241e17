"""One module per entry; importing this package registers them all."""

from multitask._registry import import_submodules

import_submodules(__name__)
