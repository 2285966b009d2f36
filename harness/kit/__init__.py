"""The adapter kit: what an adapter in ``algorithms/<name>/`` is written against.

``from harness.kit import Algorithm, Param, DENSE`` — the base class (:mod:`.algorithm`), parameter
declarations (:mod:`.params`), a ``config.yml``'s builds (:mod:`.config`), the virtualenvs of
adapters with pins of their own (:mod:`.environments`) and the catalogue that finds adapters and
makes them for a dataset (:mod:`.catalogue`).
"""

from harness.kit.algorithm import DENSE, SPARSE, TEXT, Algorithm, normalize_rows
from harness.kit.catalogue import AdapterUnavailable, Catalogue, load_adapter_class
from harness.kit.config import AlgorithmDefinition, BuildSpec, ConfigError
from harness.kit.environments import AdapterEnvironment, EnvironmentBuildError, full_requirements
from harness.kit.params import REQUIRED, Param

__all__ = ["DENSE", "SPARSE", "TEXT", "REQUIRED", "AdapterEnvironment", "AdapterUnavailable", "Algorithm",
           "AlgorithmDefinition", "BuildSpec", "Catalogue", "ConfigError", "EnvironmentBuildError", "Param",
           "full_requirements", "load_adapter_class", "normalize_rows"]
