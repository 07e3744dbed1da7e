"""Reference and sample data of the evaluation service: the question bank, form templates and rule versions
(labelled MẪU where the client has not confirmed them) and an idempotent `seed(session)`.

Migration 0002 inserted the same rows when it was released; that revision stays as it was (a released revision is
never edited), so a migrated database already holds them and `seed` adds only what is missing (a database built from
the models, or one an operator emptied).
"""
from __future__ import annotations

from datetime import date, datetime, timezone

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.evaluation.models import FormTemplate, QuestionItem, RuleVersion

SEEDED_AT = datetime(2026, 11, 26, tzinfo=timezone.utc)
# Question bank: (code, object, criterion, label, kind, purpose). Objects per TT 10/2017/TT-BNV Art. 4.
BANK = [
    # course form KH-CHUNG v1: the five survey dimensions commonly used (codes = the JSON API's `scores` keys)
    ("content", "programme", "content", "Nội dung chương trình phù hợp, thiết thực", "score", "course"),
    ("methods", "lecturers", "methods", "Phương pháp giảng dạy giúp tiếp thu tốt", "score", "course"),
    ("lecturer", "lecturers", "lecturer", "Giảng viên nhìn chung đáp ứng yêu cầu", "score", "course"),
    ("organisation", "organisation", "organisation", "Công tác tổ chức, quản lý lớp học", "score", "course"),
    ("applicability", "effectiveness", "applicability", "Khả năng áp dụng kiến thức vào công việc", "score", "course"),
    # the fuller six-object bank (TT 10/2017 forms)
    ("prog_goal", "programme", "programme_design", "Mục tiêu chương trình rõ ràng, phù hợp vị trí việc làm", "score", "course"),
    ("prog_materials", "programme", "materials", "Tài liệu đầy đủ, cập nhật, dễ hiểu", "score", "course"),
    ("prog_time", "programme", "programme_design", "Thời lượng phù hợp với nội dung", "score", "course"),
    ("learner_self", "learners", "learner_effort", "Mức độ tiếp thu kiến thức của bản thân", "score", "course"),
    ("learner_attend", "learners", "learner_effort", "Bản thân tham gia đầy đủ, tích cực", "score", "course"),
    ("fac_room", "facilities", "facilities", "Phòng học, trang thiết bị đáp ứng yêu cầu", "score", "course"),
    ("fac_service", "facilities", "support", "Công tác phục vụ (ăn, nghỉ, đi lại) chu đáo", "score", "course"),
    ("org_schedule", "organisation", "organisation", "Lịch học hợp lý, thông báo kịp thời", "score", "course"),
    ("eff_expect", "effectiveness", "applicability", "Khóa học đáp ứng mong đợi của bản thân", "score", "course"),
    ("txt_good", "programme", "free_text", "Điều anh/chị thấy hữu ích nhất", "text", "course"),
    ("txt_improve", "organisation", "free_text", "Đề xuất cải tiến khóa học", "text", "course"),
    # lecturer form (TT 10/2017 lecturer criteria), repeated for each lecturer of the course
    ("lec_knowledge", "lecturers", "knowledge", "Kiến thức chuyên môn và kinh nghiệm thực tiễn", "score", "lecturer"),
    ("lec_ethics", "lecturers", "ethics", "Đạo đức nghề nghiệp", "score", "lecturer"),
    ("lec_responsibility", "lecturers", "responsibility", "Tinh thần trách nhiệm", "score", "lecturer"),
    ("lec_methods", "lecturers", "teaching_methods", "Phương pháp giảng dạy", "score", "lecturer"),
    ("lec_testing", "lecturers", "testing_methods", "Phương pháp kiểm tra, đánh giá", "score", "lecturer"),
    # L3/L4 follow-up, trainee
    ("fu_apply", "effectiveness", "behaviour", "Tôi đã áp dụng kiến thức của khóa học vào công việc", "score", "followup_trainee"),
    ("fu_quality", "effectiveness", "results", "Chất lượng công việc của tôi được nâng lên", "score", "followup_trainee"),
    ("fu_speed", "effectiveness", "results", "Tôi giải quyết công việc, hồ sơ nhanh hơn", "score", "followup_trainee"),
    ("fu_txt_example", "effectiveness", "free_text", "Ví dụ việc đã làm khác đi sau khóa học", "text", "followup_trainee"),
    # L3/L4 follow-up, direct supervisor (about the civil servant assessed)
    ("sv_apply", "effectiveness", "behaviour", "Công chức áp dụng kiến thức đã học vào công việc", "score", "followup_supervisor"),
    ("sv_quality", "effectiveness", "results", "Chất lượng, tiến độ công việc của công chức được cải thiện", "score", "followup_supervisor"),
    ("sv_citizens", "effectiveness", "results", "Người dân, tổ chức hài lòng hơn khi làm việc với công chức", "score", "followup_supervisor"),
    ("sv_txt_note", "effectiveness", "free_text", "Nhận xét thêm của thủ trưởng trực tiếp", "text", "followup_supervisor"),
]
TEMPLATES = [  # (id, code, purpose, title, item codes)
    ("00000000-0000-4000-8000-000000000101", "KH-CHUNG", "course", "Phiếu lấy ý kiến học viên về khóa học",
     ["content", "methods", "lecturer", "organisation", "applicability", "txt_good", "txt_improve"]),
    ("00000000-0000-4000-8000-000000000102", "TT10-DAYDU", "course",
     "Phiếu lấy ý kiến học viên (đầy đủ sáu đối tượng, TT 10/2017)",
     ["prog_goal", "prog_materials", "prog_time", "learner_self", "learner_attend", "lecturer", "methods",
      "fac_room", "fac_service", "organisation", "org_schedule", "applicability", "eff_expect", "txt_good",
      "txt_improve"]),
    ("00000000-0000-4000-8000-000000000103", "GV-TT10", "lecturer", "Đánh giá giảng viên",
     ["lec_knowledge", "lec_ethics", "lec_responsibility", "lec_methods", "lec_testing"]),
    ("00000000-0000-4000-8000-000000000104", "SAU-HV", "followup_trainee",
     "Phiếu khảo sát hiệu quả sau khóa học (học viên)", ["fu_apply", "fu_quality", "fu_speed", "fu_txt_example"]),
    ("00000000-0000-4000-8000-000000000105", "SAU-QL", "followup_supervisor",
     "Phiếu khảo sát hiệu quả sau khóa học (thủ trưởng trực tiếp)",
     ["sv_apply", "sv_quality", "sv_citizens", "sv_txt_note"]),
]
RULES = [  # (id, code, valid_from, legal_basis, params, is_sample)
    ("00000000-0000-4000-8000-000000000201", "scoring", date(2017, 9, 29),
     "TT 10/2017/TT-BNV: thang 1–10; phiếu bỏ trống > 5 % chỉ tiêu không hợp lệ; bình quân chỉ tiêu → tiêu chí "
     "→ đối tượng → chỉ số chung; 5 mức xếp loại",
     {"max_unanswered_share": 0.05, "index_method": "object_mean",
      "bands": [[8.0, "excellent", "Xuất sắc"], [6.0, "good", "Tốt"], [4.0, "average", "Trung bình"],
                [2.0, "weak", "Yếu"], [0.0, "poor", "Kém"]]}, False),
    ("00000000-0000-4000-8000-000000000202", "feedback_window", date(2017, 9, 29),
     "MẪU — quy định nội bộ của cơ sở đào tạo (khách hàng xác nhận)",
     {"days": 7, "reminder_days_before": 2, "close_when_all_answered": True}, True),
    ("00000000-0000-4000-8000-000000000203", "followup", date(2017, 9, 29),
     "MẪU — đánh giá hiệu quả sau 3–6 tháng (TT 10/2017, đối tượng 6; khách hàng [C])",
     {"delay_days": 90, "answer_days": 21}, True),
    ("00000000-0000-4000-8000-000000000204", "level_mapping", date(2017, 9, 29),
     "MẪU — quy đổi điểm kiểm tra cuối khóa (0–10) sang cấp độ năng lực 1–5 (khách hàng [C])",
     {"thresholds": [[9.0, 5], [8.0, 4], [6.5, 3], [5.0, 2], [0.0, 1]]}, True),
    ("00000000-0000-4000-8000-000000000205", "excellent_learner", date(2017, 9, 29),
     "MẪU — học viên xuất sắc: có chứng chỉ và điểm kiểm tra cuối khóa bình quân ≥ 9,0 (khách hàng [C])",
     {"require_certified": True, "min_post_mean": 9.0}, True),
    ("00000000-0000-4000-8000-000000000206", "report_privacy", date(2017, 9, 29),
     "MẪU — không công bố nhóm dưới 3 phiếu để bảo đảm ẩn danh",
     {"min_group_size": 3}, True),
    ("00000000-0000-4000-8000-000000000207", "templates", date(2017, 9, 29),
     "MẪU — mẫu phiếu áp dụng cho khóa học mới",
     {"course": "KH-CHUNG", "lecturer": "GV-TT10", "followup_trainee": "SAU-HV", "followup_supervisor": "SAU-QL"},
     True),
    ("00000000-0000-4000-8000-000000000208", "unit_indicators", date(2017, 9, 29),
     "MẪU — chỉ số kết quả công việc của đơn vị (cải cách hành chính)",
     {"indicators": {"procedures_on_time_share": "Tỷ lệ hồ sơ TTHC giải quyết đúng hạn (%)",
                     "citizen_satisfaction": "Mức độ hài lòng của người dân (%)"}}, True),
]



def template_items(item_codes: list[str]) -> list[dict]:
    """A template's stored items from bank codes (as migration 0002 built them)."""
    by_code = {row[0]: row for row in BANK}
    return [{"code": c, "object": by_code[c][1], "criterion": by_code[c][2], "label": by_code[c][3],
             "kind": by_code[c][4]} for c in item_codes]


def seed(session: Session) -> dict:
    """Insert the bank items, template versions and rule versions that are missing (by code, id, id); return the
    counts added. Running it again adds nothing."""
    have_items = set(session.scalars(sa.select(QuestionItem.code)))
    have_templates = set(session.scalars(sa.select(FormTemplate.id)))
    have_rules = set(session.scalars(sa.select(RuleVersion.id)))
    items = [QuestionItem(**dict(zip(("code", "object_code", "criterion_code", "label", "kind", "purpose"), row)))
             for row in BANK if row[0] not in have_items]
    templates = [FormTemplate(id=tid, code=code, version=1, purpose=purpose, title=title, created_at=SEEDED_AT,
                              items=template_items(codes))
                 for tid, code, purpose, title, codes in TEMPLATES if tid not in have_templates]
    rules = [RuleVersion(id=rid, code=code, valid_from=vf, valid_to=None, legal_basis=basis, params=params,
                         is_sample=sample, created_at=SEEDED_AT)
             for rid, code, vf, basis, params, sample in RULES if rid not in have_rules]
    session.add_all(items + templates + rules)
    session.flush()
    return {"question_items": len(items), "templates": len(templates), "rules": len(rules)}
