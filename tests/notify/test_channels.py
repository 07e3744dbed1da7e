"""The channel adapters against real local servers: SMTP (aiosmtpd), an SMS gateway and Zalo ZNS (loopback HTTP
servers speaking their documented shapes). Retries on 5xx and time-outs, none on 4xx."""
from __future__ import annotations

import pytest

from shared.notify import Attachment, DeliveryError, Message, NotifyConfig, build_channels
from shared.notify.email import SmtpChannel
from shared.notify.sms import SmsGatewayChannel, segments, strip_diacritics
from shared.notify.zalo import ZaloZnsChannel, zalo_phone
from tests.notify.servers import HttpProvider, Scripted, SmtpSink

VI = "Kính gửi học viên: mời anh/chị trả lời phiếu lấy ý kiến lớp KH2026-01 trước 17:00 ngày 15/12/2026."


def _cfg(**kw) -> NotifyConfig:
    return NotifyConfig(**{"timeout_seconds": 1.0, "attempts": 3, "retry_pause_seconds": 0.01, **kw})


def test_smtp_sends_text_html_and_an_ics_attachment():
    with SmtpSink() as sink:
        ch = SmtpChannel(_cfg(smtp_host="127.0.0.1", smtp_port=sink.port, mail_from="dao-tao@thoibinh.local"))
        ics = b"BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n"
        sent = ch.send(Message(to="hv1@example.vn", subject="Thư mời dự lớp", text=VI, html=f"<p>{VI}</p>",
                               idempotency_key="d-1", attachments=(Attachment(
                                   "invite.ics", "text/calendar; method=REQUEST", ics),)))
        assert sent.provider_id == "<d-1@thoibinh.local>"
        [mail] = sink.to("hv1@example.vn")
        assert mail["Subject"] == "Thư mời dự lớp"
        assert mail.get_body(("plain",)).get_content().strip() == VI
        assert VI in mail.get_body(("html",)).get_content()
        [att] = list(mail.iter_attachments())
        assert att.get_filename() == "invite.ics" and att.get_content_type() == "text/calendar"
        assert att.get_param("method") == "REQUEST" and att.get_content() in (ics, ics.decode())


def test_smtp_refused_recipient_is_final_and_a_4xx_is_retryable():
    with SmtpSink() as sink:
        ch = SmtpChannel(_cfg(smtp_host="127.0.0.1", smtp_port=sink.port))
        sink.refuse["gone@example.vn"] = "550 No such user"
        with pytest.raises(DeliveryError) as err:
            ch.send(Message(to="gone@example.vn", text="x", idempotency_key="d-2"))
        assert not err.value.retryable and "gone@example.vn" not in str(err.value)
        sink.answer_data = "451 Try again later"
        with pytest.raises(DeliveryError) as err:
            ch.send(Message(to="hv@example.vn", text="x", idempotency_key="d-3"))
        assert err.value.retryable and err.value.code == "451"


def test_smtp_without_a_server_is_retryable():
    from tests.notify.servers import free_port
    ch = SmtpChannel(_cfg(smtp_host="127.0.0.1", smtp_port=free_port()))
    with pytest.raises(DeliveryError) as err:
        ch.send(Message(to="hv@example.vn", text="x", idempotency_key="d-4"))
    assert err.value.retryable


def test_segment_counting_gsm7_and_ucs2():
    assert segments("a" * 160) == ("gsm7", 1)
    assert segments("a" * 161) == ("gsm7", 2)
    assert segments("a" * 306) == ("gsm7", 2) and segments("a" * 307) == ("gsm7", 3)
    assert segments("€" * 80) == ("gsm7", 1) and segments("€" * 81) == ("gsm7", 2)  # extension: two septets
    assert segments("ạ" * 70) == ("ucs2", 1)
    assert segments("ạ" * 71) == ("ucs2", 2)
    assert segments("ạ" * 134) == ("ucs2", 2) and segments("ạ" * 135) == ("ucs2", 3)
    assert segments(VI)[0] == "ucs2"
    plain = strip_diacritics(VI)
    assert plain.startswith("Kinh gui hoc vien: moi anh/chi tra loi phieu lay y kien")
    assert segments(plain) == ("gsm7", 1) and segments(VI) == ("ucs2", 2)
    assert strip_diacritics("Đặng Thị Ưng") == "Dang Thi Ung"


def test_sms_gateway_body_token_and_retry_on_5xx_then_success():
    with HttpProvider(Scripted(answers=[(503, {}), (502, {}), (200, {"message_id": "gw-9"})])) as gw:
        ch = SmsGatewayChannel(_cfg(sms_gateway_url=gw.url + "/send", sms_gateway_token="tok"))
        sent = ch.send(Message(to="0912345678", text=VI, idempotency_key="d-5"))
        assert sent.provider_id == "gw-9" and sent.segments == 2
        assert len(gw.requests) == 3
        path, headers, body = gw.requests[0]
        assert path == "/send" and headers["authorization"] == "Bearer tok"
        assert body == {"to": "0912345678", "text": VI, "id": "d-5"}
        assert all(r[2]["id"] == "d-5" for r in gw.requests)  # the same id every try: the gateway can dedupe


def test_sms_gateway_no_retry_on_4xx_and_retryable_after_repeated_5xx():
    with HttpProvider(Scripted(answers=[(400, {"error": "bad number"})])) as gw:
        ch = SmsGatewayChannel(_cfg(sms_gateway_url=gw.url))
        with pytest.raises(DeliveryError) as err:
            ch.send(Message(to="09", text="x", idempotency_key="d-6"))
        assert not err.value.retryable and err.value.code == "400" and len(gw.requests) == 1
    with HttpProvider(Scripted(answers=[(500, {})])) as gw:
        ch = SmsGatewayChannel(_cfg(sms_gateway_url=gw.url))
        with pytest.raises(DeliveryError) as err:
            ch.send(Message(to="0912345678", text="x", idempotency_key="d-7"))
        assert err.value.retryable and len(gw.requests) == 3


def test_sms_gateway_time_out_is_retried_and_diacritics_stripped_when_configured():
    with HttpProvider(Scripted(answers=["timeout", (200, {})])) as gw:
        ch = SmsGatewayChannel(_cfg(sms_gateway_url=gw.url, timeout_seconds=0.3, sms_strip_diacritics=True))
        sent = ch.send(Message(to="0912345678", text=VI, idempotency_key="d-8"))
        assert len(gw.requests) == 2 and sent.segments == 1
        assert gw.requests[1][2]["text"] == strip_diacritics(VI)


def test_zalo_zns_documented_shape_and_success():
    answer = {"error": 0, "message": "Success", "data": {"msg_id": "zns-1", "sent_time": "1700000000000"}}
    with HttpProvider(Scripted(answers=[(200, answer)])) as zns:
        ch = ZaloZnsChannel(_cfg(zalo_url=zns.url + "/message/template", zalo_access_token="at"))
        sent = ch.send(Message(to="0912345678", text=VI, idempotency_key="d-9", template_id="301234",
                               template_data={"course_code": "KH2026-01", "deadline": "15/12/2026"}))
        assert sent.provider_id == "zns-1"
        [(path, headers, body)] = zns.requests
        assert path == "/message/template" and headers["access_token"] == "at"
        assert body == {"phone": "84912345678", "template_id": "301234", "tracking_id": "d-9",
                        "template_data": {"course_code": "KH2026-01", "deadline": "15/12/2026"}}


@pytest.mark.parametrize("code,retryable", [(-100, True), (-124, True), (-108, False), (-112, False)])
def test_zalo_error_in_a_200_is_a_failure_classified(code, retryable):
    with HttpProvider(Scripted(answers=[(200, {"error": code, "message": "x"})])) as zns:
        ch = ZaloZnsChannel(_cfg(zalo_url=zns.url, zalo_access_token="at"))
        with pytest.raises(DeliveryError) as err:
            ch.send(Message(to="0912345678", text="x", idempotency_key="d-10", template_id="1"))
        assert err.value.retryable is retryable and err.value.code == str(code)
        assert len(zns.requests) == 1  # a ZNS error answer is not retried inside the send; the job backs off


def test_zalo_retries_5xx_not_4xx():
    with HttpProvider(Scripted(answers=[(502, {}), (200, {"error": 0, "data": {"msg_id": "z"}})])) as zns:
        ch = ZaloZnsChannel(_cfg(zalo_url=zns.url, zalo_access_token="at"))
        assert ch.send(Message(to="0912345678", text="x", idempotency_key="k", template_id="1")).provider_id == "z"
        assert len(zns.requests) == 2
    with HttpProvider(Scripted(answers=[(403, {})])) as zns:
        ch = ZaloZnsChannel(_cfg(zalo_url=zns.url, zalo_access_token="at"))
        with pytest.raises(DeliveryError) as err:
            ch.send(Message(to="0912345678", text="x", idempotency_key="k", template_id="1"))
        assert not err.value.retryable and len(zns.requests) == 1


def test_phone_forms_and_configured_channels():
    assert zalo_phone("0912 345 678") == zalo_phone("+84912345678") == "84912345678"
    assert set(build_channels(NotifyConfig())) == set()
    assert set(build_channels(NotifyConfig(smtp_host="h", sms_gateway_url="u", zalo_access_token="t"))) == \
        {"email", "sms", "zalo"}
    with pytest.raises(ValueError):
        SmtpChannel(NotifyConfig(smtp_host="h", smtp_tls="tls1"))


def test_secrets_stay_out_of_the_config_repr():
    cfg = NotifyConfig(smtp_host="h", smtp_password="s3cret-pw", sms_gateway_token="gw-tok", zalo_access_token="zt")
    assert not {"s3cret-pw", "gw-tok", "zt"} & set(repr(cfg).replace("'", " ").replace(",", " ").split())
