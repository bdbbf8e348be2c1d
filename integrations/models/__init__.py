from integrations.models.api_tokens import ApiToken
from integrations.models.audit import Actor, AuditAction, AuditEvent
from integrations.models.catalogue import AuthKind, CardState, Category, Domain, IntegrationType
from integrations.models.credentials import Credential
from integrations.models.instances import INACTIVE_STATUSES, Integration, Status
from integrations.models.items import SyncedItem
from integrations.models.metrics import RateLimitBucket, RateLimitHit, RequestStat
from integrations.models.oauth import OAuthApp
from integrations.models.preferences import UserPreferences
from integrations.models.sync import ACTIVE_JOB_STATUSES, JobKind, JobStatus, JobTrigger, SyncJob
from integrations.models.uploads import PENDING_UPLOAD_STATUSES, Upload, UploadStatus

__all__ = [
    "ACTIVE_JOB_STATUSES",
    "INACTIVE_STATUSES",
    "PENDING_UPLOAD_STATUSES",
    "Actor",
    "ApiToken",
    "AuditAction",
    "AuditEvent",
    "AuthKind",
    "CardState",
    "Category",
    "Credential",
    "Domain",
    "Integration",
    "IntegrationType",
    "JobKind",
    "JobStatus",
    "JobTrigger",
    "OAuthApp",
    "RateLimitBucket",
    "RateLimitHit",
    "RequestStat",
    "Status",
    "SyncJob",
    "SyncedItem",
    "Upload",
    "UploadStatus",
    "UserPreferences",
]
