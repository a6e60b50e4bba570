"""The user's profile: storage counter and the email shown in the app."""

from __future__ import annotations

from dataclasses import dataclass

from pynamodb.exceptions import PutError

from playout import aws
from playout.models import PROFILE_SK, UserProfile, YouTubeQuotaDay, found, reading, user_pk
from playout.settings import get_settings
from playout.youtube.quota import QuotaDay, QuotaLedger


@dataclass(frozen=True)
class Caller:
    user_id: str
    email: str | None
    username: str | None


@dataclass(frozen=True)
class Account:
    """What /me shows: the profile and, when YouTube is set up, its project's quota today."""

    profile: UserProfile
    youtube_quota: QuotaDay | None


def read_account(caller: Caller, ledger: QuotaLedger | None) -> Account:
    """The profile and today's YouTube quota in one read (TransactGetItems); the profile is made on first
    sight, or given its email, with one write more."""
    with reading() as read:
        profile = read.get(UserProfile, user_pk(caller.user_id), PROFILE_SK)
        quota_day = read.get(YouTubeQuotaDay, *ledger.today_key()) if ledger is not None else None
    return Account(
        _complete(caller, found(profile)),
        ledger.day_of(found(quota_day)) if ledger is not None and quota_day is not None else None,
    )


def may_have_open_uploads(profile: UserProfile) -> bool:
    """False when the profile's count says no upload holds a reservation (so none can be abandoned)."""
    return profile.open_uploads is None or int(profile.open_uploads) != 0


def get_profile(caller: Caller) -> UserProfile:
    """The profile, created on first sight with the email the sign-in token or Cognito knows."""
    try:
        profile = UserProfile.get(user_pk(caller.user_id), PROFILE_SK)
    except UserProfile.DoesNotExist:
        profile = None
    return _complete(caller, profile)


def _complete(caller: Caller, profile: UserProfile | None) -> UserProfile:
    """`profile` as read (None: there is none yet), made or given the email it lacks."""
    if profile is not None and profile.email:
        return profile
    email = caller.email or _email_from_pool(caller)
    if profile is not None:
        # Created without an email by the storage counter (an upload completed before the first /me).
        if email:
            profile.update(actions=[UserProfile.email.set(email)])
        return profile
    profile = UserProfile(user_pk(caller.user_id), PROFILE_SK, email=email, open_uploads=0)
    try:
        profile.save(condition=UserProfile.pk.does_not_exist())
    except PutError:
        return UserProfile.get(user_pk(caller.user_id), PROFILE_SK, consistent_read=True)
    return profile


def _email_from_pool(caller: Caller) -> str | None:
    # Access tokens (and moto's ID tokens) carry no email claim: ask the pool once, then it is stored.
    pool_id = get_settings().user_pool_id
    if not pool_id or not caller.username:
        return None
    user = aws.client("cognito-idp").admin_get_user(UserPoolId=pool_id, Username=caller.username)
    return next((a["Value"] for a in user["UserAttributes"] if a["Name"] == "email"), None)


def storage_used_bytes(user_id: str) -> int:
    try:
        return int(UserProfile.get(user_pk(user_id), PROFILE_SK).storage_used_bytes)
    except UserProfile.DoesNotExist:
        return 0
