import time

from core.jobs.runner import Job, JobRegistry


def slow_sum(n, progress, should_stop):
    total = 0
    for i in range(n):
        if should_stop():
            return None
        total += i
        progress(i + 1, n)
        time.sleep(0.001)
    return total


def test_job_reports_progress_and_result():
    job = Job(slow_sum, 50).start().wait(10)
    assert job.done and job.result == sum(range(50)) and job.fraction == 1.0 and job.error is None


def test_job_error_is_kept_for_the_ui():
    def boom(progress, should_stop):
        raise ValueError("UMAP failed: not enough points")
    job = Job(boom).start().wait(10)
    assert job.done and isinstance(job.error, ValueError) and "not enough points" in str(job.error)


def test_cancel_stops_the_work_and_registry_restarts_cancelled_jobs():
    jobs = JobRegistry()
    job = jobs.start("map", slow_sum, 10_000)
    job.cancel()
    job.wait(10)
    assert job.result is None and job.cancelled
    again = jobs.start("map", slow_sum, 10)
    assert again is not job and again.wait(10).result == 45
    assert jobs.start("map", slow_sum, 10) is again   # finished fine: reused, not recomputed
