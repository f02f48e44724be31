"""Celery tasks of the queue benchmark's peer: one fal job per task, sent to
fal-mock the way Segue's fal client sends it.

A task uploads the front and tail frames to storage, each with POST
/storage/upload/initiate and then a PUT of the bytes to the signed URL. Then
it submits the model input to the queue, polls the status until COMPLETED,
fetches the result and downloads the clip to a file. The frames go out as the
files on disk are, with no decoding or resizing.

The broker and result backend are the Redis URL in BENCH_BROKER_URL. Start a
worker from this folder with `celery -A tasks worker`.
"""

import os
import time

import requests
from celery import Celery

# fal_client's SyncRequestHandle.iter_events polls every 0.1 s by default
# (fal-ai/fal, projects/fal_client/src/fal_client/client.py).
POLL_INTERVAL_S = 0.1
# Per-request timeout, the same as Segue's fal client uses.
REQUEST_TIMEOUT_S = 120
# Storage type that Segue's client requests.
STORAGE_TYPE = "fal-cdn-v3"
DOWNLOAD_CHUNK = 64 * 1024

BROKER_URL = os.environ.get("BENCH_BROKER_URL")
if not BROKER_URL:
    raise RuntimeError("BENCH_BROKER_URL is not set; set it to the Redis URL, such as redis://127.0.0.1:6379/0")

app = Celery("segue_bench", broker=BROKER_URL, backend=BROKER_URL)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
)

# One HTTP session per worker process, created after the prefork pool forks,
# so that each process keeps its own connections to the mock.
_session = None


def http():
    global _session
    if _session is None:
        _session = requests.Session()
    return _session


class FalJobError(RuntimeError):
    """A fal step failed; the message names the step and the reply."""


def check(response, step):
    if response.status_code >= 400:
        raise FalJobError(f"{step} failed with HTTP {response.status_code}: {response.text[:500]}")
    return response


def upload(job, path, file_name):
    """Uploads one frame to storage and returns its file URL."""
    auth = {"Authorization": f"Key {job['key']}"}
    with open(path, "rb") as file:
        data = file.read()
    initiate = http().post(
        f"{job['rest_url']}/storage/upload/initiate",
        params={"storage_type": STORAGE_TYPE},
        json={"content_type": "image/jpeg", "file_name": file_name},
        headers=auth,
        timeout=REQUEST_TIMEOUT_S,
    )
    reply = check(initiate, f"initiating the upload of {file_name}").json()
    put = http().put(
        reply["upload_url"],
        data=data,
        headers={"Content-Type": "image/jpeg"},
        timeout=REQUEST_TIMEOUT_S,
    )
    check(put, f"uploading {file_name}")
    return reply["file_url"]


def download(job, url, expected_size):
    """Streams the clip to job['output'], syncs it to disk like Segue does,
    and returns its size."""
    auth = {"Authorization": f"Key {job['key']}"}
    written = 0
    with http().get(url, headers=auth, stream=True, timeout=REQUEST_TIMEOUT_S) as response:
        check(response, "downloading the clip")
        with open(job["output"], "wb") as file:
            for chunk in response.iter_content(DOWNLOAD_CHUNK):
                file.write(chunk)
                written += len(chunk)
            file.flush()
            os.fsync(file.fileno())
    if expected_size is not None and written != expected_size:
        raise FalJobError(f"the download has {written} bytes but fal reported {expected_size}")
    return written


@app.task(name="bench.generate")
def generate(job):
    """Runs one fal job: upload, submit, poll, result, download. Returns the
    request id, the clip size and the time it finished (Unix seconds)."""
    auth = {"Authorization": f"Key {job['key']}"}
    front_url = upload(job, job["front"], "front.jpg")
    tail_url = upload(job, job["tail"], "tail.jpg")
    model_input = dict(job["input"])
    model_input[job["first_frame_field"]] = front_url
    model_input[job["last_frame_field"]] = tail_url

    submit = http().post(
        f"{job['queue_url']}/{job['model']}",
        json=model_input,
        headers=auth,
        timeout=REQUEST_TIMEOUT_S,
    )
    receipt = check(submit, "submitting").json()

    while True:
        polled = http().get(receipt["status_url"], headers=auth, timeout=REQUEST_TIMEOUT_S)
        status = check(polled, "polling the status").json()
        if status["status"] == "COMPLETED":
            break
        time.sleep(POLL_INTERVAL_S)
    if status.get("error") or status.get("error_type"):
        raise FalJobError(f"request {receipt['request_id']} failed: {status.get('error')}")

    fetched = http().get(receipt["response_url"], headers=auth, timeout=REQUEST_TIMEOUT_S)
    video = check(fetched, "fetching the result").json()["video"]
    size = download(job, video["url"], video.get("file_size"))
    return {"request_id": receipt["request_id"], "bytes": size, "finished_at": time.time()}
