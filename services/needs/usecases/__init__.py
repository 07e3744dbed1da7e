"""Use cases of the needs service: its application API, one module per capability (re-exported here, no code).

Each takes a session inside the caller's transaction (the caller owns the unit of work): a use case may flush,
never commits. Call sites use `usecases.<name>`; tests may patch the names the entrypoints call here.
"""
from services.needs.usecases.rules import (  # noqa: F401
    rule_value,
    _rule_code,
    list_rules_in_force,
    list_rule_versions,
    add_rule_version,
    _standards,
)
from services.needs.usecases.units import (  # noqa: F401
    successions,
    _commune_map,
    commune_of,
    list_units,
    get_unit,
    reorganise_units,
    apply_due_reorganisations,
    _remap_communes,
)
from services.needs.usecases.scope import (  # noqa: F401
    units_within,
    check_within,
)
from services.needs.usecases.registry import (  # noqa: F401
    CivilServantView,
    list_positions,
    create_position,
    update_position,
    REGISTRY_FIELDS,
    SHARED_FIELDS,
    _check_refs,
    _employment_date_problem,
    _check_dates,
    register_civil_servant,
    update_civil_servant,
    _follow_person,
    leave_civil_servant,
    list_civil_servants,
    _registry_query,
    get_civil_servant,
    import_registry,
    export_registry,
)
from services.needs.usecases.frameworks import (  # noqa: F401
    current_framework,
    list_frameworks,
    get_framework,
    create_framework_version,
    _copied,
    _requirements,
    _competency_topics,
)
from services.needs.usecases.campaigns import (  # noqa: F401
    open_campaign,
    _campaign,
    _campaign_view,
    list_campaigns,
    get_campaign,
    submit_response,
    campaign_progress,
    _person,
)
from services.needs.usecases.closing import (  # noqa: F401
    CLOSE_KIND,
    _close_key,
    _close_job_view,
    _combination_case,
    CLOSE_CHUNK,
    _close_params,
    _close_result,
    request_close,
    close_campaign,
    close_campaign_step,
    get_close_progress,
)
from services.needs.usecases.records import (  # noqa: F401
    LevelRecord,
    survey_levels,
    competency_history,
    competency_profile,
    record_assessed_levels,
    record_course_completed,
)
from services.needs.usecases.plans import (  # noqa: F401
    _plan,
    create_plan,
    _check_targets,
    _add_line,
    add_plan_line,
    delete_plan,
    set_plan_targets,
    submit_plan,
    return_plan,
    approve_plan,
    get_plan,
    list_plans,
)
from services.needs.usecases.queries import (  # noqa: F401
    list_needs,
    ROLLUP_KEYS,
    needs_rollup,
    below_standard,
    plan_coverage,
)
from services.needs.usecases.contacts import (  # noqa: F401
    LEGAL_BASIS,
    set_contact,
    get_contact,
    contacts_of,
    resolve_supervisor,
)
from services.needs.usecases.deliveries import (  # noqa: F401
    claim_feedback_request,
    claim_reminder,
    claim_followup,
    claim_course_notice,
    claim_lecturer_notice,
    claim_lecturer_ratings,
    course_deliveries,
    person_deliveries,
    delivery_figures,
    resend,
)
from services.needs.usecases.sending import send_due, choose_channel  # noqa: F401
from services.needs.usecases.delivery_status import delivery_status  # noqa: F401
from services.needs.usecases.lecturer_contacts import (  # noqa: F401
    COLUMNS as LECTURER_CONTACT_COLUMNS,
    FILE as LECTURER_CONTACT_FILE,
    set_lecturer_contact,
    get_lecturer_contact,
    delete_lecturer_contact,
    list_lecturer_contacts,
    lecturer_contacts_of,
    import_lecturer_contacts,
    export_lecturer_contacts,
)
from services.needs.formats import REGISTRY_COLUMNS  # noqa: F401
from services.needs.models import JOBS_TABLE  # noqa: F401 - the jobs table the worker runs
from services.needs.seed import seed, seed_civil_servants, seed_reference_data, seed_survey  # noqa: F401
from shared.localtime import utcnow  # noqa: F401
