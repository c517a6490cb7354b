"""All tables, one file each."""

from aicrm.models.activity import Activity
from aicrm.models.ai_classifier import AIClassifier
from aicrm.models.ai_classifier_example import AIClassifierExample
from aicrm.models.ai_insight import AIInsight
from aicrm.models.ai_model import AIModel
from aicrm.models.api_key import ApiKey
from aicrm.models.assistant_action import AssistantAction
from aicrm.models.assistant_conversation import AssistantConversation
from aicrm.models.assistant_message import AssistantMessage
from aicrm.models.audit_log import AuditLog
from aicrm.models.automation_rule import AutomationRule
from aicrm.models.automation_run import AutomationRun
from aicrm.models.base import Base, OrgScoped, utcnow
from aicrm.models.company import Company
from aicrm.models.contact import Contact
from aicrm.models.custom_field import CustomField
from aicrm.models.deal import Deal
from aicrm.models.email_outbox import EmailOutbox
from aicrm.models.idempotency_record import IdempotencyRecord
from aicrm.models.invitation import Invitation
from aicrm.models.job import Job
from aicrm.models.lead import Lead
from aicrm.models.lead_status import LeadStatus
from aicrm.models.membership import Membership
from aicrm.models.notification import Notification
from aicrm.models.notification_preference import NotificationPreference
from aicrm.models.organization import Organization
from aicrm.models.outbox_event import OutboxEvent
from aicrm.models.password_reset import PasswordReset
from aicrm.models.pipeline import Pipeline
from aicrm.models.pipeline_stage import PipelineStage
from aicrm.models.refresh_token import RefreshToken
from aicrm.models.saved_view import SavedView
from aicrm.models.tag import Tag
from aicrm.models.tagging import Tagging
from aicrm.models.task import Task
from aicrm.models.task_comment import TaskComment
from aicrm.models.task_dependency import TaskDependency
from aicrm.models.team import Team
from aicrm.models.team_member import TeamMember
from aicrm.models.user import User
from aicrm.models.webhook_delivery import WebhookDelivery
from aicrm.models.webhook_subscription import WebhookSubscription

__all__ = [
    "AIClassifier",
    "AIClassifierExample",
    "AIInsight",
    "AIModel",
    "WebhookSubscription",
    "WebhookDelivery",
    "NotificationPreference",
    "Notification",
    "Job",
    "AutomationRun",
    "AutomationRule",
    "Activity",
    "ApiKey",
    "AssistantAction",
    "AssistantConversation",
    "AssistantMessage",
    "AuditLog",
    "Base",
    "Company",
    "Contact",
    "CustomField",
    "Deal",
    "EmailOutbox",
    "IdempotencyRecord",
    "Invitation",
    "Lead",
    "LeadStatus",
    "Membership",
    "OrgScoped",
    "Organization",
    "OutboxEvent",
    "PasswordReset",
    "Pipeline",
    "PipelineStage",
    "RefreshToken",
    "SavedView",
    "Tag",
    "Tagging",
    "Task",
    "TaskComment",
    "TaskDependency",
    "Team",
    "TeamMember",
    "User",
    "utcnow",
]
