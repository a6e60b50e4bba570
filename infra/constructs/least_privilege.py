"""Least privilege per component. DynamoDB: exactly the actions its code calls, on the table, and on the
active-streams index only for the one component that queries it. KMS: stream keys decrypt only in the stream
task; the Lambdas decrypt YouTube refresh tokens only.

`Table.grant_read_write_data` would give Scan, BatchWriteItem, GetRecords (the stream) and every index: with
the stream task's credentials, a compromised ffmpeg could then Scan the table or Query the index for every
active stream's owner, and read every user's destinations. A transaction needs the action of each of its items
(TransactWriteItems has no IAM action of its own): its Update is UpdateItem, its Put PutItem, its Delete
DeleteItem, its ConditionCheck ConditionCheckItem; TransactGetItems likewise needs GetItem on each item.
pynamodb: get/refresh = GetItem, query = Query, save = PutItem, update = UpdateItem, delete = DeleteItem,
batch_get = BatchGetItem, TransactWrite.condition_check = ConditionCheckItem.

ConditionCheckItem reads nothing back: it lets a transaction go on only if a condition on one item (by its
full key) holds, so it reaches less than GetItem on the same items.

BatchGetItem reaches exactly the items GetItem does (each by its full key: nothing is enumerated); it is kept
where the code reads many items at once (a 1,000-item playlist's media in 10 calls instead of 1,000).
"""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms

from playout import resources
from playout.youtube.google import REFRESH_TOKEN_PURPOSE

PURPOSE_CONTEXT_KEY = "purpose"  # playout.crypto's encryption context key

GET, QUERY, PUT, UPDATE, DELETE, BATCH_GET, CONDITION_CHECK = (
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchGetItem",
    "dynamodb:ConditionCheckItem",
)

# functions/api + playout: profiles, media, uploads (transactions Put/Update/Delete), playlists, destinations,
# streams and their events (Query, Delete), health (BatchGetItem), YouTube channels, OAuth states, quota; a
# new stream's write checks its playlist's media ready (ConditionCheckItem) instead of reading them first.
API_TABLE_ACTIONS = (GET, QUERY, PUT, UPDATE, DELETE, BATCH_GET, CONDITION_CHECK)
# functions/scheduled_start: the stream's media and channels (BatchGetItem), the start's transaction
# (UpdateItem), its event and broadcast items (PutItem), quota (UpdateItem), a run's broadcasts (Query).
SCHEDULED_START_TABLE_ACTIONS = (GET, QUERY, PUT, UPDATE, BATCH_GET)
# functions/stream_watchdog: the active/ended runs from the index (Query), heartbeats and streams (GetItem),
# the settle transaction and broadcast claims (UpdateItem), events (PutItem), a run's broadcasts (Query).
WATCHDOG_TABLE_ACTIONS = (GET, QUERY, PUT, UPDATE)
WATCHDOG_INDEX_ACTIONS = (QUERY,)
# stream_task (the supervisor, never ffmpeg): its stream and destinations (GetItem), the playlist's media
# (BatchGetItem), claim/finish/heartbeats (UpdateItem), events and rotated broadcasts (PutItem), the run's
# broadcasts (Query). No index: it knows its own stream's owner and ids.
STREAM_TASK_TABLE_ACTIONS = (GET, QUERY, PUT, UPDATE, BATCH_GET)
# stream_task.media_job: its media and the owner's profile (GetItem), progress and the settle transaction
# (UpdateItem).
MEDIA_JOB_TABLE_ACTIONS = (GET, UPDATE)


def active_streams_index_arn(table: dynamodb.ITable) -> str:
    return f"{table.table_arn}/index/{resources.ACTIVE_STREAMS_INDEX}"


def table_access_statements(
    table: dynamodb.ITable, actions: Iterable[str], *, index_actions: Iterable[str] = ()
) -> list[iam.PolicyStatement]:
    statements = [iam.PolicyStatement(sid="TableItems", actions=sorted(actions), resources=[table.table_arn])]
    if index_actions:
        statements.append(
            iam.PolicyStatement(
                sid="ActiveStreamsIndex",
                actions=sorted(index_actions),
                resources=[active_streams_index_arn(table)],
            )
        )
    return statements


def grant_table_access(
    role: iam.IRole, table: dynamodb.ITable, actions: Iterable[str], *, index_actions: Iterable[str] = ()
) -> None:
    for statement in table_access_statements(table, actions, index_actions=index_actions):
        role.add_to_principal_policy(statement)


def allow_decrypting_refresh_tokens(role: iam.IRole, key: kms.IKey) -> None:
    """kms:Decrypt of YouTube refresh tokens only: the encryption context's `purpose` must say so, so a stream
    key (no purpose, or the spare key's) never decrypts with this role.
    Only the stream task reads stream keys."""
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="DecryptRefreshTokens",
            actions=["kms:Decrypt"],
            resources=[key.key_arn],
            conditions={
                "StringEquals": {f"kms:EncryptionContext:{PURPOSE_CONTEXT_KEY}": REFRESH_TOKEN_PURPOSE}
            },
        )
    )


def allow_encrypting_secrets(role: iam.IRole, key: kms.IKey) -> None:
    role.add_to_principal_policy(
        iam.PolicyStatement(sid="EncryptSecrets", actions=["kms:Encrypt"], resources=[key.key_arn])
    )
