"""message indexes: only those a query uses; partial ones for unhandled and ticketed messages

Every stored message paid for six secondary indexes. No query reads messages by room or
by time; handled and ticket_id were indexed whole, though recovery looks only for the
unhandled few and a ticket's page only for messages with a ticket. They become partial
indexes that chit-chat (stored handled, with no ticket) never enters.

Revision ID: 0006_message_indexes
Revises: 0005_overdue
Create Date: 2026-11-23 21:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0006_message_indexes'
down_revision: str | None = '0005_overdue'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_index('ix_message_room_id')
        batch_op.drop_index('ix_message_time')
        batch_op.drop_index('ix_message_handled')
        batch_op.drop_index('ix_message_ticket_id')
    op.create_index(
        'ix_message_unhandled',
        'message',
        ['id'],
        unique=False,
        sqlite_where=sa.text('handled = 0'),
        postgresql_where=sa.text('NOT handled'),
    )
    op.create_index(
        'ix_message_ticket',
        'message',
        ['ticket_id'],
        unique=False,
        sqlite_where=sa.text('ticket_id IS NOT NULL'),
        postgresql_where=sa.text('ticket_id IS NOT NULL'),
    )


def downgrade() -> None:
    op.drop_index('ix_message_ticket', table_name='message')
    op.drop_index('ix_message_unhandled', table_name='message')
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.create_index('ix_message_ticket_id', ['ticket_id'], unique=False)
        batch_op.create_index('ix_message_handled', ['handled'], unique=False)
        batch_op.create_index('ix_message_time', ['time'], unique=False)
        batch_op.create_index('ix_message_room_id', ['room_id'], unique=False)
