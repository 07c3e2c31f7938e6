"""write indexes: those no query needs leave the outbox and the ticket reporters

Every reply written to the outbox paid for an index on its group that no query reads, and
one on its person, which only private messages have (erasure looks them up). A ticket's
reporters were indexed by ticket twice: the unique (ticket_id, person_id) pair serves
every query by ticket alone. The person index becomes partial; the other two go.

Revision ID: 0007_write_indexes
Revises: 0006_message_indexes
Create Date: 2026-12-06 04:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0007_write_indexes'
down_revision: str | None = '0006_message_indexes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index('ix_outboxmessage_room_id', table_name='outboxmessage')
    op.drop_index('ix_outboxmessage_person_id', table_name='outboxmessage')
    op.create_index(
        'ix_outbox_person',
        'outboxmessage',
        ['person_id'],
        unique=False,
        sqlite_where=sa.text('person_id IS NOT NULL'),
        postgresql_where=sa.text('person_id IS NOT NULL'),
    )
    op.drop_index('ix_ticketreporter_ticket_id', table_name='ticketreporter')


def downgrade() -> None:
    op.create_index('ix_ticketreporter_ticket_id', 'ticketreporter', ['ticket_id'], unique=False)
    op.drop_index('ix_outbox_person', table_name='outboxmessage')
    op.create_index('ix_outboxmessage_person_id', 'outboxmessage', ['person_id'], unique=False)
    op.create_index('ix_outboxmessage_room_id', 'outboxmessage', ['room_id'], unique=False)
