"""overdue: the stored moment an open ticket becomes overdue; indexes for the overview and digest

Ticket.overdue_at/overdue_kind hold an open ticket's first unmet "2341" deadline (see
handlers/sla.refresh_deadline). Existing open tickets get theirs when the bot starts
(handlers/sla.fill_overdue needs the configured SLA, which a migration does not have).
ix_ticket_created_rates (created_at first, covering the rates) replaces ix_ticket_created_at.

Revision ID: 0005_overdue
Revises: 0004_hub
Create Date: 2026-11-23 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0005_overdue'
down_revision: str | None = '0004_hub'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.add_column(sa.Column('overdue_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('overdue_kind', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.create_index('ix_ticket_open_overdue', ['status', 'building_id', 'community_id', 'overdue_at', 'number'], unique=False)
        batch_op.create_index('ix_ticket_created_rates', ['created_at', 'category', 'status', 'responded_on_time', 'resolved_on_time', 'resolved_at', 'rating'], unique=False)
        batch_op.drop_index('ix_ticket_created_at')
        batch_op.create_index('ix_ticket_building_responded', ['building_id', 'first_response_at'], unique=False)
        batch_op.create_index('ix_ticket_building_resolved', ['building_id', 'resolved_at'], unique=False)
        batch_op.create_index('ix_ticket_building_closed', ['building_id', 'closed_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_index('ix_ticket_building_closed')
        batch_op.drop_index('ix_ticket_building_resolved')
        batch_op.drop_index('ix_ticket_building_responded')
        batch_op.create_index('ix_ticket_created_at', ['created_at'], unique=False)
        batch_op.drop_index('ix_ticket_created_rates')
        batch_op.drop_index('ix_ticket_open_overdue')
        batch_op.drop_column('overdue_kind')
        batch_op.drop_column('overdue_at')
