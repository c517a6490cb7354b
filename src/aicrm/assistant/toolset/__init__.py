"""Every tool module; importing this package registers them all (aicrm.assistant.tools.load).

- `records`   — search_records, get_record, create_lead, create_contact, create_task,
                log_activity, update_record, assign_record, delete_record;
- `pipeline`  — update_lead_status, move_deal_stage;
- `schedule`  — schedule_meeting, start_follow_up_sequence (+ the consumer that stops a
                sequence when the contact replies);
- `insights`  — get_customer_insights, summarize_history;
- `analytics` — analytics;
- `undo`      — `undo(ctx, action)`, which the engine calls to reverse one Action.
"""

from aicrm.assistant.toolset import analytics, insights, pipeline, records, schedule, undo

__all__ = ["analytics", "insights", "pipeline", "records", "schedule", "undo"]
