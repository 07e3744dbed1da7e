"""The needs operator CLI: seeding and closing a campaign outside an HTTP request."""
import sqlalchemy as sa

from services.needs import admin, usecases
from services.needs.models import Campaign
from services.needs.settings import get_settings
from shared.db import make_engine, make_session_factory, transaction
from shared.migrate import upgrade


def test_cli_seeds_and_closes_a_campaign(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'needs.db'}"
    upgrade("needs", url)
    settings = get_settings(database_url=url)
    assert admin.main(["seed", "12"], settings) == 0
    engine = make_engine(url)
    with transaction(make_session_factory(engine)) as session:
        campaign_id = usecases.seed_survey(session, 2026)["campaign_id"]
    assert admin.main(["close-campaign", campaign_id], settings) == 0
    assert "'people': 12" in capsys.readouterr().out
    with make_session_factory(engine)() as session:
        assert session.scalar(sa.select(Campaign.status)) == "closed"
    engine.dispose()


def test_cli_without_a_known_command_prints_usage():
    assert admin.main([]) == 2
    assert admin.main(["close-campaign"]) == 2


def test_cli_finishes_a_queued_close_job_and_refuses_an_unknown_campaign(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'needs.db'}"
    upgrade("needs", url)
    settings = get_settings(database_url=url)
    assert admin.main(["seed", "12"], settings) == 0
    engine = make_engine(url)
    with transaction(make_session_factory(engine)) as session:
        campaign_id = usecases.seed_survey(session, 2026)["campaign_id"]
        usecases.request_close(session, campaign_id, inline_limit=0)  # queued by the API, no worker running
    assert admin.main(["close-campaign", campaign_id], settings) == 0
    assert "'status': 'done', 'people': 12" in capsys.readouterr().out
    with make_session_factory(engine)() as session:
        assert session.scalar(sa.select(Campaign.status)) == "closed"
    assert admin.main(["close-campaign", "nope"], settings) == 1
    engine.dispose()
