"""Each published form of Nova output, per task, through the deployed pipeline: the emulator writes
the form (offline/nova_emulator.FORMS), the results Lambda from its asset reads it. GIVEN one
deployment, WHEN a dataset per (task, form) is judged, THEN the lake, the run record and the
notification hold what that form says, in the unit it counts."""

from __future__ import annotations

import io
import json

import pyarrow.parquet as pq
import pytest

from judgeflow import nova_output
from offline import nova_emulator
from offline.embedded_aws import EmulatorBehaviour
from tests.conftest import sample_dataset

pytestmark = pytest.mark.e2e

TASKS = {
    "llm_judge": {},
    "rubric_llm_judge": {"task": "rubric_llm_judge", "judge-model": "lite-2", "instance-types": "ml.p5.48xlarge"},
}
CASES = [(task, form) for task in TASKS for form in nova_emulator.FORMS]
ITEMS = 24  # lines in the sample dataset


def _dataset(task: str, form: str) -> bytes:
    """The sample dataset, its prompts tagged with the case: the emulator writes the form the tag names."""
    lines = sample_dataset().decode().splitlines()
    return "".join(json.dumps({**json.loads(line), "prompt": f"{json.loads(line)['prompt']} [{task} {form}]"}) + "\n"
                   for line in lines).encode()


def _form_named_in(records: list[dict]) -> nova_emulator.OutputForm:
    return nova_emulator.FORMS[records[0]["prompt"].rsplit(" ", 1)[-1].rstrip("]")]


def _read(jf, uri: str) -> list[dict]:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return pq.read_table(io.BytesIO(jf.read(bucket, key))).to_pylist()


@pytest.fixture(scope="module")
def judged(assembly):
    """Every (task, form) judged in turn in one deployment: case -> (result, runs row, items rows, record)."""
    from offline.pipeline import OfflineJudgeflow
    from offline.synth import default_context
    from tests.conftest import STACKS

    behaviour = EmulatorBehaviour(output_form=_form_named_in)
    with OfflineJudgeflow(assembly, stack_order=STACKS, region=default_context()["region"], emulator=behaviour,
                          quotas={"ml.g5.12xlarge": 1, "ml.p5.48xlarge": 1}) as jf:
        judged = {}
        # One at a time: the functions stay warm (ten runs at once would cold-start ten of each).
        for number, (task, form) in enumerate(CASES, start=1):
            jf.drop(f"forms/{task}/{form}.jsonl", _dataset(task, form), TASKS[task])
            result = jf.wait_for(number, timeout=120)[-1]
            assert result.status == "SUCCEEDED", (task, form, result.cause)
            output = result.output
            judged[(task, form)] = (result, _read(jf, output["locations"]["runs"])[0],
                                    _read(jf, output["locations"]["items"]), jf.run_record(output["run_id"]))
        judged["messages"] = [json.loads(m["Message"]) for m in jf.aws.published_messages()]
        yield judged


@pytest.mark.parametrize("task, form", CASES, ids=[f"{task}-{form}" for task, form in CASES])
def test_each_form_ingests_to_what_it_says(judged, task, form):
    result, run, items, record = judged[(task, form)]
    shape = nova_emulator.FORMS[form]
    assert run["task"] == task and run["produced_by"] == "local-emulator"
    # The archive's top folder is the recipe's run.name, which Plan sets to the run id.
    assert run["results_folder"] == f"{shape.prefix}{result.output['run_id']}/{shape.results_folder}"
    assert run["summary_key"] == ("all" if shape.summary_keys == "all+task" else nova_output.task_key(task))
    assert run["details_files"] == shape.details_files
    per_item = nova_output.JUDGMENTS_PER_ITEM[task] or 1  # the emulator judges a rubric item once
    service = [run["service_a_scores"], run["service_b_scores"], run["service_ties"], run["service_inference_error"]]
    assert sum(service) == per_item * ITEMS
    ours = run["a_wins"] + run["b_wins"] + run["ties"] + run["inference_errors"]
    if shape.details_files:
        assert (run["jf_count_unit"], ours, run["items"], len(items)) == ("item", ITEMS, ITEMS, ITEMS)
        assert [row["line_number"] for row in items] == list(range(1, ITEMS + 1))
        assert json.loads(run["warnings_json"]) == []
    else:
        assert (run["jf_count_unit"], ours, run["items"]) == ("judgment", per_item * ITEMS, 0)
        assert "over" in run["verdict_reason"] and "judgments" in run["verdict_reason"]
        assert json.loads(run["warnings_json"])[0].startswith("no details Parquet")
    if task == "rubric_llm_judge":
        assert None not in (run["service_weighted_score_a"], run["service_weighted_score_b"],
                            run["service_score_margin"])
        if shape.details_files:
            assert all(row["criteria"] for row in items)
    # The run record and the notification say the unit and the source.
    assert record["count_unit"] == run["jf_count_unit"]
    assert record["results_source"]["results_folder"] == run["results_folder"]
    (message,) = [m for m in judged["messages"] if m.get("run_id") == result.output["run_id"]]
    assert message["count_unit"] == run["jf_count_unit"] and message["service_count_unit"] == "judgment"
