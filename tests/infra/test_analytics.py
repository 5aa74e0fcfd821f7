"""Glue tables over the lake: columns match the Parquet files the results stage writes."""

from __future__ import annotations

import pyarrow as pa
import pytest

from judgeflow.stages.results import ITEMS_SCHEMA, RUNS_SCHEMA


def glue_type(arrow: pa.DataType) -> str:
    if pa.types.is_string(arrow):
        return "string"
    if pa.types.is_int64(arrow):
        return "bigint"
    if pa.types.is_float64(arrow):
        return "double"
    if pa.types.is_boolean(arrow):
        return "boolean"
    if pa.types.is_timestamp(arrow):
        return "timestamp"
    if pa.types.is_list(arrow):
        return f"array<{glue_type(arrow.value_type)}>"
    if pa.types.is_struct(arrow):
        return "struct<" + ",".join(f"{f.name}:{glue_type(f.type)}" for f in arrow) + ">"
    raise AssertionError(f"no Glue type for {arrow}")


@pytest.mark.parametrize("name, schema", [("runs", RUNS_SCHEMA), ("items", ITEMS_SCHEMA)])
def test_glue_columns_match_the_parquet_schema(stateful_template, name, schema):
    tables = [t for t in stateful_template.find_resources("AWS::Glue::Table").values()
              if t["Properties"]["TableInput"]["Name"] == name]
    (table,) = tables
    table_input = table["Properties"]["TableInput"]
    columns = [(c["Name"], c["Type"]) for c in table_input["StorageDescriptor"]["Columns"]]
    assert columns == [(f.name, glue_type(f.type)) for f in schema]
    assert table_input["PartitionKeys"] == [{"Name": "dt", "Type": "string"}]
    parameters = table_input["Parameters"]
    assert parameters["projection.enabled"] == "true" and parameters["projection.dt.type"] == "date"
    assert parameters["storage.location.template"]["Fn::Join"][1][-1] == f"/lake/{name}/dt=${{dt}}/"


def test_athena_workgroup_encrypts_results_in_the_metrics_bucket(stateful_template):
    (workgroup,) = stateful_template.find_resources("AWS::Athena::WorkGroup").values()
    configuration = workgroup["Properties"]["WorkGroupConfiguration"]
    assert configuration["EnforceWorkGroupConfiguration"] is True
    assert configuration["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"] == "SSE_KMS"


def _account_wide_names(template) -> set[str]:
    """Names AWS keeps unique per account and region: they must differ between two copies."""
    names = set()
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("StateMachineName", "LogGroupName", "Name", "TopicName", "QueueName", "TableName", "BucketName",
                    "FunctionName", "RoleName"):
            if isinstance(props.get(key), str):
                names.add(props[key])
        if resource["Type"] == "AWS::Glue::Database":
            names.add(props["DatabaseInput"]["Name"])
    return names


def test_a_second_copy_in_the_same_account_shares_no_name_with_the_first(tmp_path, templates):
    import aws_cdk as cdk

    from infra.app_builder import build_app, stack_names
    from offline.synth import cdk_json_context, default_context
    from tests.conftest import STACKS

    app = cdk.App(outdir=str(tmp_path), context={**cdk_json_context(), "deployment": "staging"})
    build_app(app, context=default_context())
    assembly = app.synth()
    staging = {name: assembly.get_stack_by_name(name).template for name in stack_names("staging")}
    assert set(staging).isdisjoint(STACKS)
    default_names = set().union(*(_account_wide_names(templates[name]) for name in STACKS))
    staging_names = set().union(*(_account_wide_names(t) for t in staging.values()))
    assert {"judgeflow", "/aws/vendedlogs/states/JudgeflowPipeline-run"} <= default_names
    assert {"judgeflow_staging", "judgeflow-staging"} <= staging_names
    assert default_names.isdisjoint(staging_names), default_names & staging_names


def test_a_deployment_name_aws_would_refuse_is_a_clear_error():
    import pytest

    from infra.app_builder import stack_names

    with pytest.raises(ValueError, match="lowercase letters"):
        stack_names("Staging_1")
