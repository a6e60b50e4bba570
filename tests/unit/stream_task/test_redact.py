"""Stream keys never leave the task: masked in text and in every log line."""

from __future__ import annotations

import io
import json
import uuid

from aws_lambda_powertools import Logger

from stream_task.redact import RedactingFormatter, Redactor

KEY = "s3cr|t-key'42"


def test_every_form_of_a_key_is_masked() -> None:
    redactor = Redactor()
    redactor.add(KEY)
    text = f"raw rtmp://h/live/{KEY} tee rtmp://h/live/s3cr\\|t-key\\'42 url-encoded s3cr%7Ct-key%2742 done"
    assert redactor(text) == "raw rtmp://h/live/**** tee rtmp://h/live/**** url-encoded **** done"


def test_an_empty_secret_masks_nothing() -> None:
    redactor = Redactor()
    redactor.add("")
    assert redactor("nothing to hide") == "nothing to hide"


def test_log_lines_and_tracebacks_are_masked() -> None:
    redactor = Redactor()
    redactor.add('k"ey')
    out = io.StringIO()
    logger = Logger(service=f"test-{uuid.uuid4()}", stream=out, logger_formatter=RedactingFormatter(redactor))
    logger.info('pushing to rtmp://h/live/k"ey', extra={"url": 'rtmp://h/live/k"ey'})
    try:
        raise RuntimeError('connect failed: rtmp://h/live/k"ey')
    except RuntimeError:
        logger.exception("failed")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert 'k\\"ey' not in out.getvalue()
    assert 'k"ey' not in out.getvalue()
    first = json.loads(lines[0])
    assert (first["message"], first["url"]) == ("pushing to rtmp://h/live/****", "rtmp://h/live/****")
    assert "rtmp://h/live/****" in json.loads(lines[1])["exception"]
