"""JSON logs: one object per line, carrying the correlation id of the current context."""
import io
import json
import logging

import pytest

from shared.logs import JsonFormatter, reset_correlation_id, set_correlation_id


@pytest.fixture
def make_logger():
    """Build a logger that writes through JsonFormatter into a buffer; return (logger, buffer)."""
    made = []

    def make(service: str = "needs"):
        buffer = io.StringIO()
        handler = logging.StreamHandler(buffer)
        handler.setFormatter(JsonFormatter(service))
        logger = logging.getLogger(f"test.logs.{service}.{len(made)}")
        logger.handlers[:] = [handler]
        logger.propagate = False
        logger.setLevel(logging.DEBUG)
        made.append(logger)
        return logger, buffer

    yield make
    for logger in made:
        logger.handlers.clear()


def lines(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_a_log_record_is_one_json_object_on_one_line(make_logger):
    logger, buffer = make_logger("courses")
    logger.info("course %s completed", "K1")
    assert buffer.getvalue().count("\n") == 1
    [out] = lines(buffer)
    assert out["msg"] == "course K1 completed"
    assert (out["level"], out["service"], out["logger"]) == ("INFO", "courses", logger.name)
    assert out["ts"].endswith("+00:00")


def test_the_correlation_id_is_included_when_set(make_logger):
    logger, buffer = make_logger()
    token = set_correlation_id("corr-123")
    try:
        logger.info("handled")
    finally:
        reset_correlation_id(token)
    assert lines(buffer)[0]["correlation_id"] == "corr-123"


def test_no_correlation_id_key_when_none_is_set(make_logger):
    logger, buffer = make_logger()
    logger.info("outside a request")
    assert "correlation_id" not in lines(buffer)[0]


def test_extra_fields_become_keys_and_reserved_attributes_do_not(make_logger):
    logger, buffer = make_logger()
    logger.info("request", extra={"route": "/api/v1/courses", "status": 201, "ms": 3.5})
    out = lines(buffer)[0]
    assert (out["route"], out["status"], out["ms"]) == ("/api/v1/courses", 201, 3.5)
    assert not {"args", "levelno", "pathname", "msecs"} & set(out)


def test_vietnamese_text_is_kept_readable(make_logger):
    logger, buffer = make_logger()
    logger.info("Lớp đã kết thúc")
    assert "Lớp đã kết thúc" in buffer.getvalue()


def test_an_exception_is_logged_inside_the_same_json_object(make_logger):
    logger, buffer = make_logger()
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logger.exception("failed")
    assert buffer.getvalue().count("\n") == 1
    out = lines(buffer)[0]
    assert out["level"] == "ERROR"
    assert "builtins.RuntimeError" in out["exc"] and "test_logs.py:" in out["exc"]
    assert "boom" not in buffer.getvalue()  # an exception's text may quote data values: never logged


def test_an_exception_chain_names_every_type_and_no_message(make_logger):
    logger, buffer = make_logger()
    try:
        try:
            int("Nguyễn Văn A")
        except ValueError as exc:
            raise KeyError("Trần Thị B") from exc
    except KeyError:
        logger.exception("failed")
    exc = lines(buffer)[0]["exc"]
    assert "builtins.KeyError" in exc and "caused by builtins.ValueError" in exc
    assert "Nguyễn" not in buffer.getvalue() and "Trần" not in buffer.getvalue()


def test_values_json_cannot_encode_are_stringified(make_logger):
    logger, buffer = make_logger()
    logger.info("odd", extra={"tiers": {3}})
    assert lines(buffer)[0]["tiers"] == "{3}"
