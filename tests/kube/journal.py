"""A parent's journal as the controller leaves it on the emulated cluster: the status fields
(``controller._journal.journal_status``) and the ConfigMaps its older records are archived in,
created here as the controller creates them. For tests and benches that seed a parent without
running the controller."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kube.emulator import EmulatedCluster
from pipetune.controller._journal import archive_base, journal_labels, journal_status


def archived_journal(cluster: EmulatedCluster, namespace: str, kind: str, name: str,
                     records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The ``status.extraFields`` journal fields of parent ``kind``/``name`` holding ``records``,
    its ConfigMaps created in ``namespace`` (without an ownerReference: the parent may not exist
    yet)."""
    journal = journal_status(records, None, archive_base(kind, name))
    for write in journal.writes:  # one call from nothing: every write creates a whole ConfigMap
        cluster.create("v1/configmaps", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
            "name": write.name, "namespace": namespace, "labels": journal_labels(kind, name)},
            "data": dict(write.data)}, namespace=namespace)
    return dict(journal.fields)
