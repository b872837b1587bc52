"""Re-export: the string method lives in `weightspace.paths._string`."""

from ..paths._string import MinimumEnergyPath, minimum_energy_path

__all__ = ["MinimumEnergyPath", "minimum_energy_path"]
