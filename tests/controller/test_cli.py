"""``pipetune controller`` as a user starts it: a process with a kubeconfig."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from conftest import ROOT
from controller.conftest import CUSTOMRUNS, customrun, finished, succeeded, train_outcome, wait_status
from kube.conftest import write_kubeconfig


def test_controller_process_runs_a_customrun_and_stops_on_sigterm(cluster, namespace, tmp_path):
    cluster.operator.outcome = train_outcome
    kubeconfig = write_kubeconfig(cluster, tmp_path / "kubeconfig")
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "PYTHONUNBUFFERED": "1"}
    env.pop("KUBERNETES_SERVICE_HOST", None)
    process = subprocess.Popen([sys.executable, "-m", "pipetune", "controller", "--namespace", namespace],
                               env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        cluster.create(CUSTOMRUNS, customrun("cli-run", namespace))
        done = wait_status(cluster, CUSTOMRUNS, namespace, "cli-run", finished, timeout=60)
        assert succeeded(done)["status"] == "True", succeeded(done)
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert f"watching {namespace}" in err
    assert "Traceback" not in err


def test_controller_without_a_cluster_is_a_usage_error(tmp_path):
    env = {**os.environ, "KUBECONFIG": str(tmp_path / "none")}
    env.pop("KUBERNETES_SERVICE_HOST", None)
    done = subprocess.run([sys.executable, "-m", "pipetune", "controller"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == ("pipetune: error: pipetune controller: no cluster to talk to: not in a pod and "
                                   "no usable kubeconfig (Invalid kube-config file. No configuration found.); "
                                   "set KUBECONFIG or run inside the cluster")
