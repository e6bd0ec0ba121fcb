"""Dataset adapters, one file each, registered by name in `base.SOURCES`."""

from chestx_reasoner.data.sources.base import SOURCES, DatasetError, SourceAdapter

__all__ = ["SOURCES", "DatasetError", "SourceAdapter"]
