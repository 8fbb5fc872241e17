"""Office-Caltech-10: multi-input multi-task classification over 4 image domains, 10 shared classes."""

from __future__ import annotations

from multitask.data.office import Office
from multitask.data.registry import register_dataset


@register_dataset("office_caltech")
class OfficeCaltech(Office):
    """Office-Caltech-10 (Gong, Shi, Sha & Grauman, "Geodesic Flow Kernel for Unsupervised Domain
    Adaptation", CVPR 2012): the 10 classes Office-31 shares with Caltech-256 (back_pack, bike,
    calculator, headphones, keyboard, laptop_computer, monitor, mouse, mug, projector), tasks = the domains
    ``amazon``, ``caltech``, ``dslr``, ``webcam``.

    Layout ``root/<domain>/<class>/<image>`` (or ``root/<domain>/images/<class>/...``), splits, items and
    arguments as :class:`~multitask.data.office.Office` (our seeded 60 / 20 / 20 split per domain and
    class, or ``lists=`` folder of ``{domain}_{train,val,test}.txt`` files).
    """

    name = "office_caltech"
    DOMAINS = ("amazon", "caltech", "dslr", "webcam")
    NUM_CLASSES = 10
