"""tektoncd/pipeline's own examples (``examples/v1/pipelineruns`` and ``taskruns``, an unmodified
snapshot in ../shared) through ``pipetune pipeline run``: each file's outcome is the one in the
table. Many examples check their own results in a last step and fail otherwise, so Succeeded
means the run was right; a failure or a refusal must say the words given here, and a refusal
must start nothing. Skips when ../shared is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import SHARED
from pipetune.store import RunStore

EXAMPLES = SHARED / "fixtures" / "tekton-examples" / "v1"

#: Runs that succeed here as on a cluster.
SUCCEEDED = {
    "pipelineruns/4808-regression.yaml",
    "pipelineruns/6139-regression.yaml",
    "pipelineruns/alpha/param-enum.yaml",
    "pipelineruns/beta/7392-regression.yaml",
    "pipelineruns/beta/ignore-task-error.yaml",
    "pipelineruns/beta/pipeline-emitting-results.yaml",
    "pipelineruns/beta/pipelinerun-with-matrix-and-results.yaml",
    "pipelineruns/beta/pipelinerun-with-matrix-and-taskrunspecs-param-substitution.yaml",
    "pipelineruns/beta/pipelinerun-with-matrix-array-references.yaml",
    "pipelineruns/beta/pipelinerun-with-matrix-context-variables.yaml",
    "pipelineruns/beta/pipelinerun-with-matrix-emitting-results.yaml",
    "pipelineruns/beta/pipelinerun-with-matrix-include-explicit.yaml",
    "pipelineruns/beta/pipelinerun-with-matrix-include.yaml",
    "pipelineruns/beta/pipelinerun-with-matrix.yaml",
    "pipelineruns/beta/propagated-pipeline-object-param.yaml",
    "pipelineruns/beta/using-retries-and-retry-count-variables.yaml",
    "pipelineruns/ignore-step-error.yaml",
    "pipelineruns/mapping-workspaces.yaml",
    "pipelineruns/no-ci/limitrange.yaml",
    "pipelineruns/no-ci/pipelinerun-taskrunspecs.yaml",
    "pipelineruns/optional-workspaces.yaml",
    "pipelineruns/pipeline-object-param-and-result.yaml",
    "pipelineruns/pipeline-object-results.yaml",
    "pipelineruns/pipeline-with-displayname.yaml",
    "pipelineruns/pipelinerun-array-results-substitution.yaml",
    "pipelineruns/pipelinerun-param-array-indexing.yaml",
    "pipelineruns/pipelinerun-results-with-params.yaml",
    "pipelineruns/pipelinerun-results.yaml",
    "pipelineruns/pipelinerun-task-execution-status.yaml",
    "pipelineruns/pipelinerun-using-different-subpaths-of-workspace.yaml",
    "pipelineruns/pipelinerun-using-parameterized-subpath-of-workspace.yaml",
    "pipelineruns/pipelinerun-with-extra-params.yaml",
    "pipelineruns/pipelinerun-with-final-results.yaml",
    "pipelineruns/pipelinerun-with-parallel-tasks-using-pvc.yaml",
    "pipelineruns/pipelinerun-with-params.yaml",
    "pipelineruns/pipelinerun-with-pipelinespec-and-taskspec.yaml",
    "pipelineruns/pipelinerun-with-pipelinespec.yaml",
    "pipelineruns/pipelinerun-with-task-timeout-override.yaml",
    "pipelineruns/pipelinerun-with-when-expressions.yaml",
    "pipelineruns/propagating-workspaces-in-pipelines.yaml",
    "pipelineruns/propagating-workspaces.yaml",
    "pipelineruns/propagating_params_implicit_parameters.yaml",
    "pipelineruns/propagating_params_in_pipeline.yaml",
    "pipelineruns/propagating_params_with_scope_precedence.yaml",
    "pipelineruns/propagating_params_with_scope_precedence_default_only.yaml",
    "pipelineruns/propagating_results_implicit_resultref.yaml",
    "pipelineruns/propagating_workspaces_with_referenced_resources.yaml",
    "pipelineruns/stepaction-params.yaml",
    "pipelineruns/task_results_example.yaml",
    "pipelineruns/using-optional-workspaces-in-when-expressions.yaml",
    "pipelineruns/using_context_variables.yaml",
    "pipelineruns/workspace-from-volumeclaimtemplate.yaml",
    "pipelineruns/workspaces-projected.yaml",
    "pipelineruns/workspaces.yaml",
    "taskruns/5080-entrypoint-init-regression.yaml",
    "taskruns/alpha/compressed-results.yaml",
    "taskruns/alpha/param-enum.yaml",
    "taskruns/array-default.yaml",
    "taskruns/beta/emit-array-results.yaml",
    "taskruns/beta/param_array_indexing.yaml",
    "taskruns/beta/propagated-object-parameters.yaml",
    "taskruns/configmap.yaml",
    "taskruns/custom-env.yaml",
    "taskruns/custom-volume.yaml",
    "taskruns/default_task_params.yaml",
    "taskruns/home-is-set.yaml",
    "taskruns/home-volume.yaml",
    "taskruns/ignore-step-error.yaml",
    "taskruns/no-ci/limitrange.yaml",
    "taskruns/object-param-result.yaml",
    "taskruns/optional-workspaces.yaml",
    "taskruns/propagating_params_implicit.yaml",
    "taskruns/propagating_workspaces.yaml",
    "taskruns/run-steps-as-non-root.yaml",
    "taskruns/secret-env-from.yaml",
    "taskruns/secret-env.yaml",
    "taskruns/secret-volume-params.yaml",
    "taskruns/secret-volume.yaml",
    "taskruns/step-by-digest.yaml",
    "taskruns/step-script.yaml",
    "taskruns/stepaction-results.yaml",
    "taskruns/stepaction.yaml",
    "taskruns/stepactions-steptemplate.yaml",
    "taskruns/steps-run-in-order.yaml",
    "taskruns/steptemplate-env-merge.yaml",
    "taskruns/steptemplate-variable-interop.yaml",
    "taskruns/task-result.yaml",
    "taskruns/task-volume-args.yaml",
    "taskruns/unnamed-steps.yaml",
    "taskruns/using_context_variables.yaml",
    "taskruns/workingdir.yaml",
    "taskruns/workspace-readonly.yaml",
    "taskruns/workspace-volume.yaml",
    "taskruns/workspace-with-volumeClaimTemplate.yaml",
    "taskruns/workspace.yaml",
}

_RESOLVER = "resolver fetches from a cluster or the network, which pipetune pipeline run does not"
_SIDECARS = "run beside the steps in a pod; pipetune pipeline run runs steps only"
_ARTIFACTS = "artifacts (Tekton's alpha $(outputs...)/$(step.artifacts.path), flag enable-artifacts) are not run"
_ISOLATED = "isolated workspaces (a workspace only the steps naming it see) are not isolated by pipetune"
_WINDOWS = "image 'mcr.microsoft.com/windows/nanoserver:1809' runs the Windows program 'cmd.exe', which does not run"
_LARGE = "Termination message is above max allowed size 4096, caused by large task result."
_ENTRYPOINT = "has no command or script here: Tekton runs the image's own entrypoint, which pipetune can't read"

#: Refused before anything runs (exit 2), with these words.
REFUSED = {
    "pipelineruns/alpha/consume-artifacts-from-task.yaml": _ARTIFACTS,
    "taskruns/alpha/produce-consume-artifacts.yaml": _ARTIFACTS,
    "taskruns/alpha/task-artifacts.yaml": _ARTIFACTS,
    "pipelineruns/alpha/pipelinerun-with-cel-when-expressions.yaml":
        "spec.pipelineSpec.tasks[0] (create-file).when: CEL expressions",
    "pipelineruns/alpha/pipelines-in-pipelines-ref-complex.yaml": "a Pipeline inside a Pipeline",
    "pipelineruns/alpha/pipelines-in-pipelines-ref.yaml": "a Pipeline inside a Pipeline",
    "pipelineruns/alpha/pipelines-in-pipelines.yaml": "a Pipeline inside a Pipeline",
    "pipelineruns/beta/git-resolver.yaml": "taskRef.resolver: the git " + _RESOLVER,
    "pipelineruns/beta/http-resolver-credentials.yaml": "taskRef.resolver: the http " + _RESOLVER,
    "pipelineruns/beta/http-resolver.yaml": "taskRef.resolver: the http " + _RESOLVER,
    "pipelineruns/no-ci/cluster-resolver.yaml": "spec.pipelineRef.resolver: the cluster " + _RESOLVER,
    "pipelineruns/no-ci/git-resolver-custom-apiurl.yaml": "taskRef.resolver: the git " + _RESOLVER,
    "pipelineruns/no-ci/git-resolver-custom-secret.yaml": "taskRef.resolver: the git " + _RESOLVER,
    "pipelineruns/no-ci/git-resolver.yaml": "spec.pipelineRef.resolver: the git " + _RESOLVER,
    "pipelineruns/no-ci/hub-resolver.yaml": "spec.pipelineRef.resolver: the hub " + _RESOLVER,
    "taskruns/beta/bundles-resolver.yaml": "spec.taskRef.resolver: the bundles " + _RESOLVER,
    "taskruns/beta/git-resolver.yaml": "spec.taskRef.resolver: the git " + _RESOLVER,
    "taskruns/beta/hub-resolver.yaml": "spec.taskRef.resolver: the hub " + _RESOLVER,
    "taskruns/beta/stepaction-git-resolver.yaml": "(action-runner).ref.resolver: the git " + _RESOLVER,
    "taskruns/no-ci/cluster-resolver.yaml": "spec.taskRef.resolver: the cluster " + _RESOLVER,
    "pipelineruns/beta/isolated-workspaces.yaml": _ISOLATED,
    "taskruns/alpha/step-stream-workspace.yaml": _ISOLATED,
    "pipelineruns/no-ci/csi-workspace.yaml": "spec.workspaces (secret-vault): csi has no local source here",
    "pipelineruns/no-ci/windows-node-affinity.yaml": _WINDOWS,
    "pipelineruns/no-ci/windows-node-selectors.yaml": _WINDOWS,
    "taskruns/no-ci/windows-node-affinity.yaml": _WINDOWS,
    "taskruns/no-ci/windows-node-selectors.yaml": _WINDOWS,
    "pipelineruns/pipelinerun.yaml": "(build-and-push): image '$(params.BUILDER_IMAGE)' " + _ENTRYPOINT,
    "taskruns/entrypoint-resolution.yaml": "spec.taskSpec.steps[0]: image 'ghcr.io/tektoncd/pipeline/nop-",
    "taskruns/no-ci/git-volume.yaml": "steps[0] (git): image 'gcr.io/cloud-builders/git' " + _ENTRYPOINT,
    "taskruns/alpha/step-stream-results.yaml": "stdoutConfig/stderrConfig (alpha) are not supported here",
    "taskruns/alpha/step-stream-volumes.yaml": "stdoutConfig/stderrConfig (alpha) are not supported here",
    "taskruns/alpha/stepaction-when.yaml": "step-level when expressions (alpha) are not evaluated here",
    "taskruns/authenticating-git-commands.yaml": "sidecars (server) " + _SIDECARS,
    "taskruns/beta/authenticating-git-commands.yaml": "sidecars (server) " + _SIDECARS,
    "taskruns/beta/workspace-in-sidecar.yaml": "sidecars (unnamed) " + _SIDECARS,
    "taskruns/beta/workspace-isolation.yaml": "sidecars (await-step-signal) " + _SIDECARS,
    "taskruns/dind-sidecar.yaml": "sidecars (server) " + _SIDECARS,
    "taskruns/sidecar-interp.yaml": "sidecars (value-sidecar) " + _SIDECARS,
    "taskruns/sidecar-ready-script.yaml": "sidecars (slow-sidecar) " + _SIDECARS,
    "taskruns/sidecar-ready.yaml": "sidecars (slow-sidecar) " + _SIDECARS,
    "taskruns/workspace-in-sidecar.yaml": "sidecars (unnamed) " + _SIDECARS,
    "taskruns/no-ci/default-workspaces.yaml": "workspace 'source' is not bound (and not optional)",
    "taskruns/template-volume.yaml": "volumeMount 'custom' names no volume of the Task (one from a podTemplate",
}

#: Run and fail (exit 1), the pipeline run's message holding these words: as Tekton with its
#: default flags fails them (results over the limit, a result never written), or for what this
#: machine lacks (the network, an image's tools, credentials a service account mounts, a
#: non-root user), or where a step relies on busybox's sh and StepAction param details
#: (tests/README.md: what a local Tekton run does not prove).
FAILED = {
    "pipelineruns/alpha/pipelinerun-large-results.yaml": "task large-task failed: exited with code 1: " + _LARGE,
    "taskruns/beta/large-task-result.yaml": _LARGE,
    "pipelineruns/no-ci/compressed-results-pipeline.yaml":
        "invalid result reference $(tasks.build.results.digest-1): task build produced no result 'digest-1'",
    "pipelineruns/pipelinerun-with-final-tasks.yaml": "/ko-app/git-init: No such file or directory",
    "taskruns/no-ci/docker-creds.yaml": "skopeo: command not found",
    "taskruns/no-ci/pull-private-image.yaml": "skopeo: command not found",
    "taskruns/no-ci/git-basic-auth-multiple-repos.yaml": "step clone-specific-repo failed with exit code 128",
    "taskruns/no-ci/git-ssh-auth-multiple-repos.yaml": "step clone-specific-repo failed with exit code 128",
    "taskruns/creds-init-only-mounts-provided-credentials.yaml": "step check-credentials failed with exit code 1",
    "taskruns/readonly-internal-dir.yaml": "step unnamed-2 failed with exit code 1",
    "pipelineruns/beta/pipeline-with-when-expressions-using-array-results.yaml":
        "task validate-tasks failed: exited with code 1: step validate-tasks-section failed",
    "taskruns/stepaction-params.yaml": "step action-runner failed with exit code 1",
    "taskruns/stepaction-passing-results.yaml": "step action-runner failed with exit code 1",
}


def _files() -> list[str]:
    return sorted(SUCCEEDED | set(REFUSED) | set(FAILED))


@pytest.fixture(autouse=True)
def _examples() -> None:
    if not EXAMPLES.is_dir():
        pytest.skip("../shared/fixtures/tekton-examples is absent")


def test_the_table_covers_every_example() -> None:
    present = sorted(str(p.relative_to(EXAMPLES)) for p in EXAMPLES.rglob("*.yaml"))
    assert present == _files()
    assert len(SUCCEEDED) >= 60


@pytest.mark.parametrize("name", _files())
def test_an_example_runs_as_the_table_says(cli, state_dir: Path, name: str) -> None:
    done = cli("pipeline", "run", str(EXAMPLES / name), timeout=300)
    records = RunStore(state_dir).list() if (state_dir / "runs.db").exists() else []
    runs = [r for r in records if r.parent_id is None]
    if name in SUCCEEDED:
        assert done.returncode == 0, done.stderr[-2000:]
        assert runs and all(r.status == "Succeeded" for r in runs)
    elif name in REFUSED:
        assert done.returncode == 2, done.stderr[-2000:]
        assert REFUSED[name] in done.stderr and "Traceback" not in done.stderr
        assert records == []
    else:
        assert done.returncode == 1, done.stderr[-2000:]
        assert any(r.status == "Failed" and FAILED[name] in (r.message or "") for r in runs), \
            [r.message for r in runs]
