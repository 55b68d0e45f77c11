"""A cluster's namespaces are its own: ``cluster down --cluster a`` leaves cluster ``a-b``."""

from __future__ import annotations

import pytest

from harness import netns
from harness.providers.local import LocalCluster

pytestmark = pytest.mark.netns


def test_down_of_a_cluster_leaves_a_cluster_whose_name_starts_with_its_own() -> None:
    other = ["dh-nmt-b-ctl", "dh-nmt-b-n1", "dh-nmt-n1x"]
    mine = ["dh-nmt-ctl", "dh-nmt-n1", "dh-nmt-n7"]
    try:
        for ns in other + mine:
            netns.add(ns)
        assert sorted(LocalCluster("nmt", size=1).ours()) == sorted(mine)
        removed = LocalCluster("nmt", size=1).down()
        assert sorted(removed) == sorted(mine)
        assert all(netns.exists(ns) for ns in other)
        assert not any(netns.exists(ns) for ns in mine)
    finally:
        for ns in other + mine:
            if netns.exists(ns):
                netns.delete(ns)
