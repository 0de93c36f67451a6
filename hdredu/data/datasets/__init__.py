"""Loaders for real datasets on disk, one module per dataset, each tested on a tiny fake copy in its layout.

| class | dataset | task |
|---|---|---|
| :class:`HDREye` | HDR-Eye / HDR-Real in the SingleHDR layout (test sets) | single-image inverse tone mapping |
| :class:`Kalantari` | Kalantari & Ramamoorthi, SIGGRAPH 2017 (dynamic-scene brackets) | multi-exposure merge |
| :class:`NTIRE2021` | NTIRE 2021 HDR challenge, track 2 (1060×1900 video frames) | multi-exposure merge |
| :class:`PairedFolders` | MIT-Adobe FiveK exported as input/target pictures (any operator) | image operator |
| :class:`SID` | See-in-the-Dark, Sony α7S II (Chen et al., CVPR 2018) | low-light RAW |

Nothing is downloaded: every loader reads a copy the user already has, from the path it is given.
"""

from hdredu.data.datasets.hdreye import HDREye, HDRReal
from hdredu.data.datasets.kalantari import Kalantari
from hdredu.data.datasets.ntire import NTIRE2021
from hdredu.data.datasets.paired import PairedFolders
from hdredu.data.datasets.sid import SID

__all__ = ["HDREye", "HDRReal", "Kalantari", "NTIRE2021", "PairedFolders", "SID"]
