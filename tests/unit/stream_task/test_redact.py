"""Stream keys never leave the task: masked in text and in every log line."""

from __future__ import annotations

import io
import json
import uuid

import pytest
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


# Lines as ffmpeg 5.1 writes them when an ingest fails (captured on this machine, key swapped in).
def ffmpeg_lines(url: str, key: str) -> list[str]:
    return [
        "[tcp @ 0x55f491ba2600] Connection to tcp://127.0.0.1:1?tcp_nodelay=0 failed: Connection refused",
        "[rtmp @ 0x55f491ba4a40] Cannot open connection tcp://127.0.0.1:1?tcp_nodelay=0",
        f"{url}: Connection refused",
        f"Error opening output {url}",
        f"[tee @ 0x55de52b9ae40] Slave '[f=flv:onfail=ignore]{url}': error opening: Connection refused",
        f"[rtmp @ 0x55] Server error: NetStream.Publish.BadName: {key}",
        "[flv @ 0x55] Failed to update header with correct duration.",
        "ffmpeg version 5.1.9 Copyright (c) 2000-2026 the FFmpeg developers",
    ]


def test_a_one_letter_key_is_masked_in_its_url_and_nowhere_else() -> None:
    redactor = Redactor()
    redactor.add("m", url="rtmp://h/app/m")
    masked = [redactor(line) for line in ffmpeg_lines("rtmp://h/app/m", "m")]
    assert masked == [
        "[tcp @ 0x55f491ba2600] Connection to tcp://127.0.0.1:1?tcp_nodelay=0 failed: Connection refused",
        "[rtmp @ 0x55f491ba4a40] Cannot open connection tcp://127.0.0.1:1?tcp_nodelay=0",
        "rtmp://h/app/****: Connection refused",
        "Error opening output rtmp://h/app/****",
        "[tee @ 0x55de52b9ae40] Slave '[f=flv:onfail=ignore]rtmp://h/app/****': error opening: "
        "Connection refused",
        # A key this short is not told apart from a word: left alone rather than masked with every "m".
        "[rtmp @ 0x55] Server error: NetStream.Publish.BadName: m",
        "[flv @ 0x55] Failed to update header with correct duration.",
        "ffmpeg version 5.1.9 Copyright (c) 2000-2026 the FFmpeg developers",
    ]


def test_a_short_key_is_masked_in_an_rtmp_url_even_without_its_url() -> None:
    redactor = Redactor()
    redactor.add("e")
    assert redactor("rtmps://live.example:443/app/e: Connection reset by peer") == (
        "rtmps://live.example:443/app/****: Connection reset by peer"
    )
    assert (
        redactor("[tee @ 0x5] Slave '[f=flv]rtmp://h/e/e': error")
        == "[tee @ 0x5] Slave '[f=flv]rtmp://h/e/****': error"
    )
    assert redactor("see /usr/share/e for the ffmpeg manual") == "see /usr/share/e for the ffmpeg manual"


def test_a_long_key_is_masked_as_a_token_of_its_own_and_in_every_form() -> None:
    key = "abcd-efgh-ijkl-mnop"
    redactor = Redactor()
    redactor.add(key, url=f"rtmp://a.rtmp.youtube.com/live2/{key}")
    url = f"rtmp://a.rtmp.youtube.com/live2/{key}"
    masked = [redactor(line) for line in ffmpeg_lines(url, key)]
    assert masked[2:6] == [
        "rtmp://a.rtmp.youtube.com/live2/****: Connection refused",
        "Error opening output rtmp://a.rtmp.youtube.com/live2/****",
        "[tee @ 0x55de52b9ae40] Slave '[f=flv:onfail=ignore]rtmp://a.rtmp.youtube.com/live2/****': "
        "error opening: Connection refused",
        "[rtmp @ 0x55] Server error: NetStream.Publish.BadName: ****",
    ]
    assert redactor(f"key={key}, quoted '{key}' and (\"{key}\")") == "key=****, quoted '****' and (\"****\")"
    # Glued to other letters or digits it is not a token of its own: nothing around it is cut.
    assert redactor(f"x{key}9") == f"x{key}9"


def test_the_whole_url_is_masked_in_each_of_its_encodings() -> None:
    key = "k|y"
    url = "rtmps://live.example/app/k|y"
    redactor = Redactor()
    redactor.add(key, url=url)
    assert redactor("[f=flv]rtmps://live.example/app/k\\|y|[f=flv]rtmp://other/app/x") == (
        "[f=flv]rtmps://live.example/app/****|[f=flv]rtmp://other/app/x"
    )
    assert (
        redactor("to rtmps%3A%2F%2Flive.example%2Fapp%2Fk%7Cy now")
        == "to rtmps%3A%2F%2Flive.example%2Fapp%2F**** now"
    )
    assert redactor("to rtmps://live.example/app/k%7Cy now") == "to rtmps://live.example/app/**** now"
    assert (
        redactor(json.dumps({"message": f"pushing to {url}"}))
        == '{"message": "pushing to rtmps://live.example/app/****"}'
    )


def test_a_key_that_is_part_of_another_key_leaves_no_piece_of_either() -> None:
    redactor = Redactor()
    redactor.add("ab", url="rtmp://h/app/ab")
    redactor.add("abc", url="rtmp://h/app/abc")
    assert redactor("rtmp://h/app/abc failed, rtmp://h/app/ab failed") == (
        "rtmp://h/app/**** failed, rtmp://h/app/**** failed"
    )


def test_a_url_must_hold_its_key() -> None:
    with pytest.raises(ValueError, match="must contain the secret"):
        Redactor().add("key", url="rtmp://h/app/other")


def test_a_short_key_in_a_json_log_line_is_masked_without_touching_the_words() -> None:
    redactor = Redactor()
    redactor.add("m", url="rtmp://h/app/m")
    out = io.StringIO()
    logger = Logger(service=f"test-{uuid.uuid4()}", stream=out, logger_formatter=RedactingFormatter(redactor))
    logger.warning("ffmpeg: rtmp://h/app/m: Connection refused")
    line = json.loads(out.getvalue())
    assert line["message"] == "ffmpeg: rtmp://h/app/****: Connection refused"
    assert line["level"] == "WARNING"
