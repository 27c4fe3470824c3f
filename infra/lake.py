"""The lake on AWS: one S3 bucket, Glue tables with partition projection, an Athena workgroup.

The Glue columns are generated from :data:`hstcr_common.lake.schemas.TABLES` (the pyarrow
schemas the Parquet writer uses), so the files and the tables cannot drift apart; the named
Athena queries are the same ``hstcr_common/lake/queries/*.sql`` files DuckDB runs.

Bucket layout (one bucket, three prefixes)::

    lake/<table>/instrument=<id>/year=<yyyy>/month=<mm>/<dataset>.parquet   the lake
    runs/<run_id>/...                      manifests, Distributed Map results, run summaries
    athena-results/                        Athena query results
"""

from __future__ import annotations

import pyarrow as pa
from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_s3 as s3
from constructs import Construct

from hstcr_common.instruments import detectors
from hstcr_common.lake import PARTITION_KEYS, TABLES, field_doc, named_queries, named_sql

LAKE_PREFIX = "lake"
RUNS_PREFIX = "runs"
ATHENA_RESULTS_PREFIX = "athena-results"
#: Partition-projection range of ``year``: HST launch to well past its expected end.
YEAR_RANGE = (1990, 2040)
#: Extra ``instrument`` value for rows whose instrument could not be determined.
UNKNOWN_INSTRUMENT = "unknown"
#: Glue's limit on a column comment (characters).
GLUE_COMMENT_MAX = 255


def glue_type(arrow_type: pa.DataType) -> str:
    """Hive/Glue type string of a pyarrow type, as Athena reads it from Parquet.

    Parameters
    ----------
    arrow_type : pyarrow.DataType
        A column type of :data:`hstcr_common.lake.schemas.TABLES`.

    Returns
    -------
    str
        e.g. ``"smallint"``, ``"timestamp"``, ``"array<struct<x:smallint,y:smallint,e:float>>"``.

    Raises
    ------
    TypeError
        For a type without a Glue equivalent (so a schema change cannot silently drop a column).
    """
    t = arrow_type
    simple = [
        (pa.types.is_boolean, "boolean"),
        (pa.types.is_int8, "tinyint"),
        (pa.types.is_int16, "smallint"),
        (pa.types.is_int32, "int"),
        (pa.types.is_int64, "bigint"),
        # Parquet has no unsigned logical types Athena understands: widen
        (pa.types.is_uint8, "smallint"),
        (pa.types.is_uint16, "int"),
        (pa.types.is_uint32, "bigint"),
        (pa.types.is_float16, "float"),
        (pa.types.is_float32, "float"),
        (pa.types.is_float64, "double"),
        (pa.types.is_string, "string"),
        (pa.types.is_large_string, "string"),
        (pa.types.is_binary, "binary"),
        (pa.types.is_large_binary, "binary"),
        (pa.types.is_date32, "date"),
        (pa.types.is_timestamp, "timestamp"),
    ]
    for predicate, name in simple:
        if predicate(t):
            return name
    if pa.types.is_decimal(t):
        return f"decimal({t.precision},{t.scale})"
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return f"array<{glue_type(t.value_type)}>"
    if pa.types.is_struct(t):
        inner = ",".join(f"{t.field(i).name}:{glue_type(t.field(i).type)}" for i in range(t.num_fields))
        return f"struct<{inner}>"
    if pa.types.is_map(t):
        return f"map<{glue_type(t.key_type)},{glue_type(t.item_type)}>"
    raise TypeError(f"no Glue/Hive type for pyarrow type {t}")


def glue_comment(field: pa.Field) -> str:
    """The Glue column comment of a lake column: ``"<description> [<unit>]"`` from its pyarrow
    field metadata (:func:`hstcr_common.lake.schemas.field_doc`), at most
    :data:`GLUE_COMMENT_MAX` characters (a long description is cut, the unit always kept)."""
    unit, description = field_doc(field)
    suffix = f" [{unit}]" if unit else ""
    room = GLUE_COMMENT_MAX - len(suffix)
    if len(description) > room:
        description = description[: room - 1].rstrip() + "\u2026"
    return description + suffix


def glue_columns(schema: pa.Schema) -> list[dict[str, str]]:
    """``[{"name", "type", "comment"}]`` of a pyarrow schema, in schema order."""
    return [{"name": f.name, "type": glue_type(f.type), "comment": glue_comment(f)} for f in schema]


def instrument_ids() -> list[str]:
    """Values of the ``instrument`` partition: the instrument table's ids plus ``unknown``."""
    return sorted(detectors()) + [UNKNOWN_INSTRUMENT]


def projection_parameters(table: str, bucket_name: str, prefix: str = LAKE_PREFIX) -> dict[str, str]:
    """Glue table parameters enabling partition projection over the lake's Hive layout."""
    root = f"s3://{bucket_name}/{prefix}/{table}"
    return {
        "classification": "parquet",
        "EXTERNAL": "TRUE",
        "parquet.compression": "ZSTD",
        "projection.enabled": "true",
        "projection.instrument.type": "enum",
        "projection.instrument.values": ",".join(instrument_ids()),
        "projection.year.type": "integer",
        "projection.year.range": f"{YEAR_RANGE[0]},{YEAR_RANGE[1]}",
        "projection.month.type": "integer",
        "projection.month.range": "1,12",
        "projection.month.digits": "2",
        "storage.location.template": root + "/instrument=${instrument}/year=${year}/month=${month}",
    }


def query_files() -> dict[str, str]:
    """The named analyses: ``{name: SQL}`` of every ``hstcr_common/lake/queries/*.sql``."""
    return {name: named_sql(name) for name in named_queries()}


class Lake(Construct):
    """Bucket + Glue database/tables + Athena workgroup and named queries.

    Parameters
    ----------
    bytes_scanned_cutoff : int
        Athena's per-query limit of bytes scanned (the workgroup cancels larger queries).
    athena_results_days, run_artefacts_days : int
        Lifecycle: days after which query results and run artefacts expire.
    """

    def __init__(self, scope: Construct, construct_id: str, *,
                 bytes_scanned_cutoff: int = 10 * 1024**3,
                 athena_results_days: int = 7, run_artefacts_days: int = 90,
                 removal_policy: RemovalPolicy = RemovalPolicy.RETAIN) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)

        # ACLs disabled (bucket owner enforced): S3 log delivery is then granted by a bucket
        # policy, never by the legacy LogDeliveryWrite ACL (cfn-lint W3045), whatever the
        # @aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy flag says
        self.access_logs = s3.Bucket(
            self, "AccessLogs",
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            lifecycle_rules=[s3.LifecycleRule(id="expire-access-logs", expiration=Duration.days(90))],
            removal_policy=removal_policy,
        )

        self.bucket = s3.Bucket(
            self, "Bucket",
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            versioned=False,  # re-processing a dark overwrites its file by design (idempotent)
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="lake-bucket/",
            lifecycle_rules=[
                s3.LifecycleRule(id="expire-athena-results", prefix=f"{ATHENA_RESULTS_PREFIX}/",
                                 expiration=Duration.days(athena_results_days)),
                s3.LifecycleRule(id="expire-run-artefacts", prefix=f"{RUNS_PREFIX}/",
                                 expiration=Duration.days(run_artefacts_days)),
                s3.LifecycleRule(id="abort-incomplete-uploads",
                                 abort_incomplete_multipart_upload_after=Duration.days(2)),
            ],
            removal_policy=removal_policy,
        )
        self.lake_root = f"s3://{self.bucket.bucket_name}/{LAKE_PREFIX}"
        self.runs_root = f"s3://{self.bucket.bucket_name}/{RUNS_PREFIX}"

        self.database_name = "hstcr"
        self.database = glue.CfnDatabase(
            self, "Database", catalog_id=stack.account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=self.database_name,
                description="hstcr: cosmic rays in HST calibration darks (Parquet lake)",
            ),
        )
        partition_keys = [
            glue.CfnTable.ColumnProperty(name=name, type=glue_type(t)) for name, t in PARTITION_KEYS
        ]
        self.tables: dict[str, glue.CfnTable] = {}
        for table, schema in TABLES.items():
            cfn_table = glue.CfnTable(
                self, f"Table-{table}", catalog_id=stack.account, database_name=self.database_name,
                table_input=glue.CfnTable.TableInputProperty(
                    name=table,
                    table_type="EXTERNAL_TABLE",
                    parameters=projection_parameters(table, self.bucket.bucket_name),
                    partition_keys=partition_keys,
                    storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                        location=f"s3://{self.bucket.bucket_name}/{LAKE_PREFIX}/{table}/",
                        input_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                        output_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                        serde_info=glue.CfnTable.SerdeInfoProperty(
                            serialization_library="org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
                        ),
                        columns=[glue.CfnTable.ColumnProperty(**c) for c in glue_columns(schema)],
                    ),
                ),
            )
            cfn_table.add_resource_dependency(self.database)
            self.tables[table] = cfn_table

        self.workgroup_name = f"{stack.stack_name}-hstcr"
        self.workgroup = athena.CfnWorkGroup(
            self, "WorkGroup", name=self.workgroup_name,
            description="hstcr analyses over the cosmic-ray lake",
            state="ENABLED",
            recursive_delete_option=True,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                bytes_scanned_cutoff_per_query=bytes_scanned_cutoff,
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version="Athena engine version 3"),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{self.bucket.bucket_name}/{ATHENA_RESULTS_PREFIX}/",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_S3"),
                ),
            ),
        )

        self.named_queries: dict[str, athena.CfnNamedQuery] = {}
        for name, sql in query_files().items():
            nq = athena.CfnNamedQuery(
                self, f"Query-{name}", database=self.database_name, query_string=sql,
                name=name, work_group=self.workgroup_name,
                description=f"hstcr named analysis {name} (hstcr_common/lake/queries/{name}.sql)",
            )
            nq.add_resource_dependency(self.workgroup)
            nq.add_resource_dependency(self.database)
            self.named_queries[name] = nq
