"""Every job (Dramatiq actor) and queue by name: the one place a name is spelled.

A context declares its actor with one of these names (``tenant_actor``) and any floor may enqueue it
through the outbox by name, so a lower context can start work that a higher one does without
importing it.
"""

from __future__ import annotations

# --- queues ------------------------------------------------------------------------------------
DEFAULT_QUEUE = "default"
SLA_QUEUE = "sla"
WEBHOOK_QUEUE = "webhooks"
MAIL_QUEUE = "mail"
# Solver runs: long and CPU-bound, so they can be given workers of their own.
STAFFING_QUEUE = "staffing"
# Reported even while empty (Redis drops an empty queue's keys), so metrics never stop.
KNOWN_QUEUES = (DEFAULT_QUEUE, STAFFING_QUEUE)

# --- jobs --------------------------------------------------------------------------------------
PURGE_EXPIRED_JOB = "tenancy.purge_expired"
SOLVE_JOB = "staffing.solve_period"
REFRESH_HOURS_JOB = "sla.refresh_hours"
REFRESH_DUE_JOB = "sla.refresh_due"
DETECT_JOB = "sla.detect_alerts"
REMEASURE_JOB = "sla.remeasure"
DELIVER_JOB = "webhooks.deliver"
SWEEP_JOB = "webhooks.sweep_due"
SEND_MAIL_JOB = "mail.send"
SWEEP_MAIL_JOB = "mail.sweep_due"
RUN_PERIOD_JOB = "billing.run_period"
MONTH_END_JOB = "billing.month_end"
PUSH_INVOICE_JOB = "billing.push_invoice"
MAIL_INVOICE_JOB = "billing.mail_invoice"
RECONCILE_JOB = "billing.reconcile_stripe"
RUN_DUE_REPORTS_JOB = "reports.run_due"
DELIVER_REPORT_JOB = "reports.deliver"
NOTIFY_ESCALATION_JOB = "escalations.notify"
SWEEP_ESCALATIONS_JOB = "escalations.sweep"
SWEEP_NOTICES_JOB = "notifications.sweep"
DELIVER_NOTICE_WEBHOOK_JOB = "notifications.deliver_webhook"
