"""``pipetune controller``: the Tekton custom-task and Experiment operator, until SIGTERM."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

import kopf
from kubernetes import config

from pipetune.controller import Controller, run_operator
from pipetune.engines.kubernetes import api_client
from pipetune.engines.select import current_namespace
from pipetune.errors import UsageError


def controller(args: argparse.Namespace) -> int:
    """Reconcile the parents of the namespaces watched; returns 0 once stopped."""
    if args.workers < 1:
        raise UsageError(f"--workers: expected at least 1, got {args.workers}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    api = api_client(args.context, purpose="pipetune controller")
    namespaces = [] if args.all_namespaces else (args.namespace or [current_namespace()])
    where = "every namespace" if not namespaces else ", ".join(namespaces)
    print(f"pipetune controller: watching {where}", file=sys.stderr, flush=True)
    login = None
    if args.context:

        def login(**kwargs: Any) -> Any:  # the kubeconfig context chosen, not kopf's default one
            config.load_kube_config(context=args.context)
            return kopf.login_via_client(**kwargs)

    run_operator(Controller(api, workers=args.workers, resync=args.resync), namespaces, login=login)
    return 0
