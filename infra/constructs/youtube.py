"""YouTube: the Google Cloud project's OAuth client, kept in Secrets Manager, and what reading it takes.

The secret is not made by the stack: an administrator creates it once (JSON `{"client_id": "...",
"client_secret": "..."}`, from the Google Cloud console's "Web application" client whose authorized redirect
URI is the app's `<AppUrl>/api/youtube/callback`) under the name the context gives
(`youtube_client_secret_name`, by default `playout/<stage>/youtube-oauth-client`). Only its name travels in
environments; each runtime reads it when it first talks to Google (Powertools' parameters, cached five
minutes).
"""

from __future__ import annotations

from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

# playout.settings.YouTubeSettings.client_secret_name (the variable's name, not a secret)
SECRET_NAME_VARIABLE = "YOUTUBE_CLIENT_SECRET_NAME"  # noqa: S105


def default_secret_name(stage: str) -> str:
    return f"playout/{stage}/youtube-oauth-client"


class YouTubeClient(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, secret_name: str) -> None:
        super().__init__(scope, construct_id)
        self.secret_name = secret_name
        self.secret = secretsmanager.Secret.from_secret_name_v2(self, "OAuthClient", secret_name)

    def allow_function(self, function: lambda_.Function) -> None:
        """The secret's name in the function's environment, and GetSecretValue on that secret only."""
        function.add_environment(SECRET_NAME_VARIABLE, self.secret_name)
        self._grant(function)

    def allow_task(self, task_definition: ecs.TaskDefinition) -> None:
        """The same for a task: the name in its container's environment (the task definition's, never an
        override), the read on its task role."""
        container = task_definition.default_container
        assert container is not None
        container.add_environment(SECRET_NAME_VARIABLE, self.secret_name)
        self._grant(task_definition.task_role)

    def _grant(self, grantee: iam.IGrantable) -> None:
        # GetSecretValue/DescribeSecret on `<name>-??????`: a secret's ARN ends in 6 random characters.
        self.secret.grant_read(grantee)
