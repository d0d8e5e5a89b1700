"""``/stacksz``: where every thread and every asyncio task is, as the reference dumps its
goroutines: for finding what a stuck server waits on."""

from __future__ import annotations

import asyncio
import sys
import threading
import traceback


def stacks() -> str:
    out: list[str] = []
    names = {t.ident: t.name for t in threading.enumerate()}
    for ident, frame in sys._current_frames().items():
        out.append(f"thread {ident} [{names.get(ident, '?')}]:\n")
        out.extend(traceback.format_stack(frame))
        out.append("\n")
    try:
        tasks = asyncio.all_tasks()
    except RuntimeError:  # no running loop (not called from the server)
        tasks = set()
    for task in sorted(tasks, key=lambda t: t.get_name()):
        out.append(f"task {task.get_name()} [{'done' if task.done() else 'pending'}]: {task.get_coro()!r}\n")
        for frame in task.get_stack():
            code = frame.f_code
            out.append(f'  File "{code.co_filename}", line {frame.f_lineno}, in {code.co_name}\n')
        out.append("\n")
    return "".join(out)
