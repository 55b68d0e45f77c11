"""Export to Jepsen EDN."""

from __future__ import annotations

import json

from harness.export import edn, export_edn, op_edn


def test_an_op_becomes_a_jepsen_op_map_with_keyword_type_and_f():
    op = {
        "index": 0,
        "type": "invoke",
        "process": 0,
        "time": 123,
        "f": "add",
        "key": "s3",
        "value": 17,
        "node": "n1",
    }
    assert op_edn(op) == (
        '{:index 0, :type :invoke, :process 0, :time 123, :f :add, :key "s3", :value 17, '
        ':node "n1"}'
    )


def test_nemesis_ops_keep_their_grudge_as_a_map_and_process_as_a_keyword():
    op = {
        "index": 4,
        "type": "info",
        "process": "nemesis",
        "time": 9,
        "f": "start-partition",
        "value": {"n1": ["n3", "n4"]},
    }
    assert op_edn(op) == (
        "{:index 4, :type :info, :process :nemesis, :time 9, :f :start-partition, "
        ':value {"n1" ["n3" "n4"]}}'
    )


def test_values_map_to_edn_scalars_and_collections():
    assert edn(None) == "nil"
    assert edn([True, False, 1.5, 'a"b\n']) == '[true false 1.5 "a\\"b\\n"]'
    assert edn(float("inf")) == "##Inf"


def test_export_writes_one_op_a_line_and_leaves_out_convergence_samples(tmp_path):
    ops = [
        {
            "index": 0,
            "type": "invoke",
            "process": 0,
            "time": 1,
            "f": "read",
            "key": "r1",
            "value": None,
        },
        {
            "index": 1,
            "type": "ok",
            "process": 0,
            "time": 2,
            "f": "read",
            "key": "r1",
            "value": ["w-1"],
            "context": ["w-1"],
            "final": True,
        },
        {
            "index": 2,
            "type": "ok",
            "process": "convergence",
            "time": 3,
            "f": "read-local",
            "key": "r1",
            "node": "n1",
            "value": ["w-1"],
        },
    ]
    (tmp_path / "history.jsonl").write_text("".join(json.dumps(op) + "\n" for op in ops))
    out = export_edn(tmp_path, None)
    assert out == tmp_path / "history.edn"
    lines = out.read_text().splitlines()
    assert lines == [
        '{:index 0, :type :invoke, :process 0, :time 1, :f :read, :key "r1", :value nil}',
        '{:index 1, :type :ok, :process 0, :time 2, :f :read, :key "r1", :value ["w-1"], '
        ':context ["w-1"], :final true}',
    ]
    assert (
        len(export_edn(tmp_path, tmp_path / "all.edn", samples=True).read_text().splitlines()) == 3
    )
