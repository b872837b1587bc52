"""Re-export: the nudged elastic band lives in `weightspace.paths._neb`."""

from ..paths._neb import ElasticBand, nudged_elastic_band

__all__ = ["ElasticBand", "nudged_elastic_band"]
