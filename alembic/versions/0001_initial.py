"""initial schema: cases, media, analyses, detector results, custody

Revision ID: 0001
Revises:
Create Date: 2026-11-27 05:39:43.973731
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("name", name=op.f("uq_cases_name")),
    )
    op.create_table(
        "custody_events",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("chain", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=True),
        sa.Column("object_sha256", sa.String(length=64), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("event_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custody_events")),
        sa.UniqueConstraint("chain", "seq", name="uq_custody_events_chain_seq"),
    )
    with op.batch_alter_table("custody_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_custody_events_chain"), ["chain"], unique=False)

    op.create_table(
        "media_items",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("probe", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_items")),
        sa.UniqueConstraint("sha256", name=op.f("uq_media_items_sha256")),
    )
    op.create_table(
        "analyses",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("media_id", sa.String(length=32), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("p_fake", sa.Float(), nullable=True),
        sa.Column("llr", sa.Float(), nullable=True),
        sa.Column("fusion_rule", sa.String(length=64), nullable=False),
        sa.Column("fusion_details", sa.JSON(), nullable=False),
        sa.Column("engine_version", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_analyses_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["media_id"], ["media_items.id"], name=op.f("fk_analyses_media_id_media_items")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analyses")),
    )
    with op.batch_alter_table("analyses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_analyses_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_analyses_media_id"), ["media_id"], unique=False)

    op.create_table(
        "case_media",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("media_id", sa.String(length=32), nullable=False),
        sa.Column("original_name", sa.Text(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("added_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_media_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["media_id"], ["media_items.id"], name=op.f("fk_case_media_media_id_media_items")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_media")),
        sa.UniqueConstraint("case_id", "media_id", name=op.f("uq_case_media_case_id")),
    )
    with op.batch_alter_table("case_media", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_media_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_media_media_id"), ["media_id"], unique=False)

    op.create_table(
        "detector_results",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("analysis_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("detector", sa.String(length=100), nullable=False),
        sa.Column("modality", sa.String(length=32), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("weights_sha256", sa.String(length=64), nullable=True),
        sa.Column("calibration_version", sa.String(length=64), nullable=True),
        sa.Column("calibrated", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("raw_score", sa.Float(), nullable=True),
        sa.Column("llr", sa.Float(), nullable=True),
        sa.Column("p_fake", sa.Float(), nullable=True),
        sa.Column("fusion_weight", sa.Float(), nullable=False),
        sa.Column("elapsed_s", sa.Float(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["analysis_id"], ["analyses.id"], name=op.f("fk_detector_results_analysis_id_analyses")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_detector_results")),
    )
    with op.batch_alter_table("detector_results", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_detector_results_analysis_id"), ["analysis_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("detector_results", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_detector_results_analysis_id"))

    op.drop_table("detector_results")
    with op.batch_alter_table("case_media", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_media_media_id"))
        batch_op.drop_index(batch_op.f("ix_case_media_case_id"))

    op.drop_table("case_media")
    with op.batch_alter_table("analyses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_analyses_media_id"))
        batch_op.drop_index(batch_op.f("ix_analyses_case_id"))

    op.drop_table("analyses")
    op.drop_table("media_items")
    with op.batch_alter_table("custody_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_custody_events_chain"))

    op.drop_table("custody_events")
    op.drop_table("cases")
