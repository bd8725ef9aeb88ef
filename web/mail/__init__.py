"""The email channel: approval requests, reminders, outcomes and notifications by email."""
