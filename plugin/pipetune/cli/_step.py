"""``pipetune step``: inside a container, a catalog component from its inputs, published
(the step of every generated Tekton task.yaml)."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipetune.catalog import component_file
from pipetune.cli._common import parse_inputs
from pipetune.components import load_component, resolve_command
from pipetune.contract import outputs_dir
from pipetune.publisher import PublishOptions, default_options, execute, unwrap
from pipetune.tekton import kfp_only


def step(args: argparse.Namespace) -> int:
    """Run the component's own command under the publisher; its exit code."""
    path = Path(args.component)
    spec = load_component(path if path.suffix in (".yaml", ".yml") or path.is_dir() else component_file(args.component))
    values = parse_inputs(args.input)
    for item in spec.inputs:
        if item.optional and values.get(item.name) == "":
            values.pop(item.name)  # Tekton params always have a value: "" stands for absent
    arguments = spec.bind(values)
    outputs = outputs_dir()
    paths = {output.name: str(outputs / output.name) for output in spec.outputs}
    # This step publishes itself (Tekton results): the component's own command, unwrapped
    # from its publisher prefix, runs under it.
    argv = unwrap(resolve_command(spec, arguments, paths))
    options = default_options()
    if args.tekton_results:
        declared = tuple((o.name, o.is_parameter, Path(paths[o.name])) for o in spec.outputs if not kfp_only(o))
        options = PublishOptions(options.termination_message_path, Path(args.tekton_results), declared)
    return execute(argv, options)
