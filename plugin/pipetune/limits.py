"""How much pipetune reads from one input, each bound with why it is where it is (issue 14).

Every YAML file pipetune reads (results, component specs, experiments, pipelines, the catalog
index) goes through :mod:`pipetune.yamlsafe` under one of the :class:`YamlLimits` below; the
results contract adds its own count (:data:`MAX_RESULTS_ENTRIES`). Each bound sits far above
what a real file holds and far below what hurts. PyYAML's pure-Python parser costs some 10 to
25 microseconds of CPU per node (a key, a value, a collection) and some hundreds of bytes of
memory per node while it builds a document, whatever the bytes, so the node budgets bound
time and memory, and the byte budgets bound what is read at all. A hostile file (an alias
bomb, a 10**400 metric, a FIFO, /dev/zero, 100 MB) is refused in milliseconds with one line
naming the file and the limit.
"""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024

#: results.yaml: results are meant to be small (the channels that carry them on a cluster,
#: Kubernetes termination messages and Tekton results, hold 4 KiB; above that pipetune already
#: warns). 1 MiB is 256 times that. Large values belong in artifacts, which are files pipetune
#: never parses.
RESULTS_MAX_BYTES = 1 * MiB

#: Nodes in results.yaml, those aliases add included: 10,000 metrics are 20,000 nodes, a
#: history of 14,000 reports of three metrics 100,000. Every run's results are read once at its
#: end, and while it runs the local engine reads their history at each poll for early
#: stopping, so the worst accepted file must stay quick: about 2 s of CPU and 100 MB (measured
#: on a loaded 2-core machine; bench/hostile_inputs.py).
RESULTS_MAX_NODES = 100_000

#: component.yaml, experiments, compiled KFP / Tekton pipelines, the catalog index: written by
#: people or compilers; the largest real ones (compiled KFP pipelines) are under 50 KB and
#: 2,000 nodes. 4 MiB and 250,000 nodes (some 5 s and 250 MB at worst) are a hundred times
#: that.
SPEC_MAX_BYTES = 4 * MiB
SPEC_MAX_NODES = 250_000

#: Collections inside collections. Real files nest at most 17 deep (the Experiment CRD's
#: schema; a compiled KFP pipeline 14); PyYAML's composer recurses about twice per level, so 900 levels exhaust Python's
#: stack (a RecursionError traceback). 100 keeps every reader, pipetune's own recursive
#: checks included, far from that.
MAX_DEPTH = 100

#: Alias nodes (``*name``) in one file. Hand-written anchors reuse a block a few times (the
#: same resources for each replica). A billion-laughs bomb needs only some tens, so what stops
#: one is the node budget, which counts the nodes each alias stands for: PyYAML builds an alias
#: as a shared reference, so loading a bomb is instant, and what hangs is everything that walks
#: the data afterwards (validation, JSON for the run store, substitution into a trial); a
#: 366-byte bomb is ten million strings. A recursive alias (an anchor inside its own alias) is
#: refused whatever its size.
MAX_ALIASES = 1000

#: Characters in one integer literal. Python refuses ``int()`` of more than 4300 digits (a
#: ValueError PyYAML does not catch), and a sexagesimal literal (``1:2:3``) costs quadratic time
#: in its length; 4300 keeps Python's bound with a clear message. Where a number is expected
#: (metrics, steps) integers beyond float range (about 1.8e308) are refused as well.
MAX_INT_CHARS = 4300

#: Entries in results.yaml's ``metrics``, ``outputs`` or ``artifacts``, or in one history
#: entry. Katib records a few metrics per trial; each metric becomes a column in the tuner's
#: table and a field in its journal and the run store; 2.5 million of them (the issue's file,
#: 53 MB) took 290 s and 3.85 GB to read. 10,000 is far above any real use.
MAX_RESULTS_ENTRIES = 10_000


@dataclass(frozen=True)
class YamlLimits:
    """The bounds one kind of YAML file is read under; ``what`` and ``hint`` go into the
    message of a file past ``max_bytes`` or ``max_nodes``."""

    max_bytes: int
    max_nodes: int
    what: str
    hint: str = ""
    max_depth: int = MAX_DEPTH
    max_aliases: int = MAX_ALIASES
    max_int_chars: int = MAX_INT_CHARS


RESULTS_LIMITS = YamlLimits(
    RESULTS_MAX_BYTES, RESULTS_MAX_NODES, "a results file", "keep large values in artifacts"
)
SPEC_LIMITS = YamlLimits(SPEC_MAX_BYTES, SPEC_MAX_NODES, "a spec file")
#: An output parameter a run wrote to a file of its own (KFP's ``outputPath`` of a parameter):
#: read under the results file's bound, since it ends up beside the results.
PARAMETER_LIMITS = YamlLimits(
    RESULTS_MAX_BYTES, RESULTS_MAX_NODES, "an output parameter file", "keep large values in artifacts"
)
