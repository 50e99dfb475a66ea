"""sched-batch: a worker runs as SCHED_BATCH while it finds several
requests per wake-up, and as SCHED_OTHER otherwise (the policy the kernel
shows in /proc/PID/stat)."""
import re
import socket
import time

import pytest

from conftest import (IS_UWSGI, Response, hello_ini, recv_all, uwsgi_packet, run, uwsgi_request,
                      uwsgi_vars, wait_for)

pytestmark = pytest.mark.skipif(IS_UWSGI, reason="sched-batch is Corral's")

SCHED_OTHER, SCHED_BATCH = 0, 3
BURST = 300


def policy(pid):
    """Field 41 of /proc/PID/stat (the fields after the name start at 3)."""
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[41 - 3])


def burst(sock):
    """Hold the worker in a 0.5 s request, queue BURST requests behind it,
    read every answer: the worker takes them from its queue, many per
    wake-up, as under load behind nginx."""
    slow = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    slow.settimeout(30)
    slow.connect(sock)
    slow.sendall(uwsgi_packet(uwsgi_vars(path="/sleep", query="0.5")))
    time.sleep(0.1)  # let it start sleeping
    conns = []
    packet = uwsgi_packet(uwsgi_vars(path="/"))
    for _ in range(BURST):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(sock)
        s.sendall(packet)
        conns.append(s)
    answers = [Response(recv_all(s)) for s in conns]
    for s in conns:
        s.close()
    assert Response(recv_all(slow)).body == b"slept"
    slow.close()
    assert [r.status for r in answers] == [200] * BURST


def queued_ini(corral, value=None):
    extra = "listen = 1024\n"
    if value is not None:
        extra += "sched-batch = %s\n" % value
    return hello_ini(corral, http=False, uwsgi=True, extra=extra)


def test_auto_turns_batch_on_under_load_and_off_when_idle(corral):
    server = corral.start(queued_ini(corral))
    (worker,) = server.wait_workers()
    assert uwsgi_request(corral.sock).status == 200  # the worker is in its loop
    assert policy(worker) == SCHED_OTHER

    def batched():
        burst(corral.sock)
        return policy(worker) == SCHED_BATCH
    wait_for(batched, 60, "the worker to run as SCHED_BATCH", interval=0)
    wait_for(lambda: policy(worker) == SCHED_OTHER, 15,
             "the idle worker to go back to SCHED_OTHER")
    assert uwsgi_request(corral.sock).status == 200


def test_false_never_switches(corral):
    server = corral.start(queued_ini(corral, "false"))
    (worker,) = server.wait_workers()
    for _ in range(2):
        burst(corral.sock)
        assert policy(worker) == SCHED_OTHER


def test_true_is_batch_from_the_start(corral):
    server = corral.start(queued_ini(corral, "true"))
    (worker,) = server.wait_workers()
    wait_for(lambda: policy(worker) == SCHED_BATCH, 15, "the worker to start as SCHED_BATCH")
    assert uwsgi_request(corral.sock).status == 200
    assert server.running()


def test_a_bad_value_names_the_option_file_and_line(corral):
    path = corral.write("bad.ini", queued_ini(corral, "sometimes"))
    p = run(["--ini", str(path)], timeout=20)
    assert p.returncode == 1
    assert re.search(r"^error: option 'sched-batch' at .*bad\.ini:\d+ expects auto, true or "
                     r"false, got 'sometimes'$", p.stdout + p.stderr, re.M), p.stderr
