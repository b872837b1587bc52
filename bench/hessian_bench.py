"""Hessian toolkit benchmark: Lanczos vs power iteration, HVP implementations, dense-Hessian cost.

Claim checked: at the same relative tolerance, implicitly restarted Lanczos (ARPACK `eigsh`) needs
several times fewer Hessian-vector products than PyHessian's power iteration with deflation for the
top-10 eigenvalues, and is more accurate; the dense Hessian costs O(n²) memory and roughly O(n · HVP)
time. Model: a 10-h-h-1 tanh MLP in float64 at its (seeded) initialisation, mean squared error on
`--batch` Gaussian inputs with Gaussian targets; h is chosen to give about `--params` parameters.
Hardware: whatever runs it (the output records torch version, threads and load average); every
time is the best of `--repeats` runs, since a shared machine only ever makes a run slower. HVPs are
counted with the `callback` of `lanczos`/`power_iteration`; errors are against `eigvalsh` of the
dense Hessian. Peak memory is the growth of the process's peak RSS (Linux VmHWM, reset before the
call; `ru_maxrss` elsewhere) in a fresh process per size.

    python bench/hessian_bench.py --params 500 1000 2000 4000 --spectral-params 3000 --out hessian.json

`--scale resnet` (issue 14, item 4) instead checks: two-pass Lanczos top-10 of a trained ResNet-20x4 with
BatchNorm (4,326,602 float32 parameters, `model.eval()`) needs at most 12·P·4 bytes beyond the model, fewer
HVPs than the PyHessian package's power iteration, at an equal or smaller error against a tight ARPACK
reference (float64, tol 1e-9); and Hutchinson's trace beside PyHessian's. One fixed batch of `--batch`
digits training images (8x8); cross-entropy; the network is trained `--train-epochs` epochs with Adam
once and cached at `--checkpoint`. Each method runs in a fresh process; its peak RSS (VmHWM) minus that of
a baseline process (model + batch + the linearised gradient + ONE HVP) is its memory beyond the model.
glibc is run with a fixed mmap threshold (MALLOC_MMAP_THRESHOLD_=65536) so freed blocks leave RSS; one
extra row repeats two-pass Lanczos under glibc's default. The full run (20-30 min on 2 cores):

    python bench/hessian_bench.py --scale resnet --out out/hessian_resnet.json

A quick check of the machinery: add `--width 1 --trace-samples 4 --train-epochs 1`.

Results go to stdout as Markdown tables; progress to stderr; everything (config included) to --out.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time

import torch
from torch import nn
from torch.func import grad, jvp, vjp, vmap

from weightspace.hessian import (
    dense_hessian,
    flatten,
    hvp,
    lanczos,
    loss_of,
    power_iteration,
    trace_estimate,
    unflatten,
)
from weightspace.hessian._functional import _Operator
from weightspace.params import state_of


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def width_for(params: int) -> int:
    """h with h² + 13h + 1 (the size of a 10-h-h-1 MLP) closest to `params`."""
    return max(1, round((-13 + math.sqrt(169 - 4 * (1 - params))) / 2))


def problem(params: int, batch: int, seed: int):
    h = width_for(params)
    torch.manual_seed(seed)
    module = nn.Sequential(nn.Linear(10, h), nn.Tanh(), nn.Linear(h, h), nn.Tanh(), nn.Linear(h, 1)).double()
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(batch, 10, generator=g, dtype=torch.float64)
    y = torch.randn(batch, 1, generator=g, dtype=torch.float64)
    loss_fn, keys = loss_of(module, x, y)
    p = state_of(module)
    return loss_fn, p, keys, h, sum(p[k].numel() for k in keys)


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak_rss() -> int:
    """Reset the peak-RSS counter (Linux: write 5 to /proc/self/clear_refs) and return the current RSS in bytes.

    Where that is unavailable, return the lifetime peak (ru_maxrss), so the delta only sees new peaks.
    """
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return _status_kib("VmRSS") * 1024
    except (OSError, TypeError):
        r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return r if sys.platform == "darwin" else r * 1024


def peak_rss() -> int:
    """Peak RSS in bytes since the last reset (VmHWM), else the lifetime peak (ru_maxrss)."""
    hwm = _status_kib("VmHWM")
    if hwm is not None:
        return hwm * 1024
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r if sys.platform == "darwin" else r * 1024


def dense_child(params: int, batch: int, seed: int, chunk: int | None, repeats: int) -> dict:
    """Run in a fresh process: peak-RSS growth of the first dense_hessian, best time of `repeats` (and eigvalsh)."""
    loss_fn, p, keys, h, n = problem(params, batch, seed)
    dense_hessian(loss_fn, *problem(20, batch, seed)[1:3])  # warm up torch.func on a tiny model
    rss0 = reset_peak_rss()
    t0 = time.perf_counter()
    hess = dense_hessian(loss_fn, p, keys, chunk=chunk)
    t_dense = time.perf_counter() - t0
    rss1 = peak_rss()
    for _ in range(repeats - 1):
        del hess
        t0 = time.perf_counter()
        hess = dense_hessian(loss_fn, p, keys, chunk=chunk)
        t_dense = min(t_dense, time.perf_counter() - t0)
    t_eig = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.linalg.eigvalsh(hess)
        t_eig = min(t_eig, time.perf_counter() - t0)
    return {"params": n, "width": h, "dense_s": t_dense, "eigvalsh_s": t_eig, "rss_delta_mb": (rss1 - rss0) / 2**20,
            "matrix_mb": n * n * 8 / 2**20, "chunk": chunk}


def bench_dense(sizes, batch, seed, chunk, repeats) -> list[dict]:
    rows = []
    for s in sizes:
        log(f"dense Hessian, ~{s} params (fresh process)")
        cmd = [sys.executable, __file__, "--child-dense", str(s), "--batch", str(batch), "--seed", str(seed),
               "--threads", str(torch.get_num_threads()), "--repeats", str(repeats)]
        if chunk is not None:
            cmd += ["--chunk", str(chunk)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True)
        rows.append(json.loads(out.stdout))
    return rows


def bench_spectral(params, batch, seed, k, tol, repeats) -> dict:
    loss_fn, p, keys, h, n = problem(params, batch, seed)
    log(f"exact spectrum, {n} params")
    ev = torch.linalg.eigvalsh(dense_hessian(loss_fn, p, keys))
    scale = float(ev.abs().max())
    ref = ev[ev.abs().argsort()[-k:]].sort().values  # top-k by magnitude
    out = {"params": n, "width": h, "k": k, "tol": tol, "lambda_max_abs": scale, "exact_top": ref.tolist()}
    for name, fn in [("lanczos", lambda cb: lanczos(loss_fn, p, k, which="LM", tol=tol, keys=keys,
                                                    generator=torch.Generator().manual_seed(seed), callback=cb)),
                     ("power_iteration", lambda cb: power_iteration(loss_fn, p, k, tol=tol, maxiter=100_000, keys=keys,
                                                                    generator=torch.Generator().manual_seed(seed),
                                                                    callback=cb))]:
        log(f"{name} top-{k}")
        dt = math.inf
        for _ in range(repeats):  # best of `repeats`: the machine may be shared
            calls = [0]
            t0 = time.perf_counter()
            vals, _ = fn(lambda c, calls=calls: calls.__setitem__(0, c))
            dt = min(dt, time.perf_counter() - t0)
        out[name] = {"seconds": dt, "hvps": calls[0], "max_rel_error": float((vals - ref).abs().max()) / scale,
                     "eigenvalues": vals.tolist()}
    out["hvp_ratio"] = out["power_iteration"]["hvps"] / out["lanczos"]["hvps"]
    out["time_ratio"] = out["power_iteration"]["seconds"] / out["lanczos"]["seconds"]
    return out


def bench_hvp(params, batch, seed, repeats, per_repeat=20, batch_vectors=64) -> dict:
    """Per-product time of HVP implementations on flat vectors: one product, and a vmap-ed batch."""
    loss_fn, p, keys, _, n = problem(params, batch, seed)
    x0 = flatten(p, keys)

    def f(vec):
        return loss_fn({**p, **unflatten(vec, p, keys)})

    g = grad(f)
    _, lin = vjp(g, x0)
    impls = {
        "forward-over-reverse (jvp of grad)": lambda v: jvp(g, (x0,), (v,))[1],
        "reverse-over-reverse (grad of <grad, v>)": lambda v: grad(lambda z: g(z) @ v)(x0),
        "reverse, gradient linearised once (vjp of grad)": lambda v: lin(v)[0],
    }
    gen = torch.Generator().manual_seed(seed)
    v = torch.randn(n, generator=gen, dtype=torch.float64)
    vs = torch.randn(batch_vectors, n, generator=gen, dtype=torch.float64)
    ref = impls["forward-over-reverse (jvp of grad)"](v)
    rows = {}
    for name, fn in impls.items():
        assert torch.allclose(fn(v), ref, rtol=1e-10, atol=1e-12)
        batched = vmap(fn)
        batched(vs[:2])
        single = per = math.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(per_repeat):
                fn(v)
            single = min(single, (time.perf_counter() - t0) / per_repeat)
            t0 = time.perf_counter()
            batched(vs)
            per = min(per, (time.perf_counter() - t0) / batch_vectors)
        rows[name] = {"single_ms": single * 1e3, "vmap_per_vector_ms": per * 1e3}
    v_tree = unflatten(v, p, keys)
    single = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(per_repeat):
            hvp(loss_fn, p, v_tree, keys)
        single = min(single, (time.perf_counter() - t0) / per_repeat)
    rows["public hvp() (reverse-over-reverse on dicts)"] = {"single_ms": single * 1e3, "vmap_per_vector_ms": None}
    return {"params": n, "batch_vectors": batch_vectors, "impls": rows}


def markdown(res: dict) -> str:
    cfg = res["config"]
    lines = [f"torch {res['torch']}, {res['threads']} threads, {res['machine']}; batch {cfg['batch']} samples, "
             f"seed {cfg['seed']}, float64; times are the best of {cfg['repeats']} runs; total {res['total_s']:.1f} s; "
             f"1-min load average {res['load_before']:.2f} before, {res['load_after']:.2f} after", ""]
    sp = res["spectral"]
    w = sp["width"]
    lines += [f"### (a) Top-{sp['k']} eigenvalues by magnitude, {sp['params']} params (10-{w}-{w}-1), "
              f"tol {sp['tol']:g} (relative)", "",
              "| method | wall time (s) | HVPs | max abs error / max abs λ |", "|---|---:|---:|---:|"]
    for name in ("lanczos", "power_iteration"):
        r = sp[name]
        lines.append(f"| {name} | {r['seconds']:.3f} | {r['hvps']} | {r['max_rel_error']:.1e} |")
    lines += ["", f"Power iteration / Lanczos: {sp['hvp_ratio']:.1f}× the HVPs, {sp['time_ratio']:.1f}× the time.", ""]
    hv = res["hvp"]
    lines += [f"### (b) HVP implementations, {hv['params']} params (ms per product)", "",
              f"| implementation | one product | vmap over {hv['batch_vectors']}, per product |", "|---|---:|---:|"]
    for name, r in hv["impls"].items():
        per = "—" if r["vmap_per_vector_ms"] is None else f"{r['vmap_per_vector_ms']:.3f}"
        lines.append(f"| {name} | {r['single_ms']:.3f} | {per} |")
    chunk = res["dense"][0]["chunk"] if res["dense"] else None
    chunk = chunk or "default (256)"
    lines += ["", f"### (c) Dense Hessian vs parameter count (chunk = {chunk}, a fresh process each)", "",
              "| params | width h | dense_hessian (s) | eigvalsh (s) | peak RSS − RSS before (MiB) | n² × 8 B (MiB) |",
              "|---:|---:|---:|---:|---:|---:|"]
    for r in res["dense"]:
        lines.append(f"| {r['params']} | {r['width']} | {r['dense_s']:.2f} | {r['eigvalsh_s']:.2f} | "
                     f"{r['rss_delta_mb']:.0f} | {r['matrix_mb']:.0f} |")
    return "\n".join(lines)


# --- issue 14, item 4: top-10 and trace of a trained ResNet-20x4 beside PyHessian ----------------------------------

SCALE_JOBS = ("baseline", "reference", "two-pass", "two-pass, no vectors", "pyhessian", "two-pass, glibc default",
              "trace", "pyhessian trace")
LEAN_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "65536"}


def resnet(width: int):
    from weightspace import models

    return models.build({"name": "resnet20", "input_shape": [1, 8, 8], "num_outputs": 10, "width": width})


def train_resnet(args) -> None:
    """Adam on the digits training split, `--train-epochs` epochs of batch 64, saved to `--checkpoint`."""
    from weightspace import data

    ds = data.load("digits", image=True)
    torch.manual_seed(args.seed)
    model = resnet(args.width)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(args.seed)
    for epoch in range(args.train_epochs):
        model.train()
        for idx in torch.randperm(len(ds.x_train), generator=g).split(64):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(ds.x_train[idx]), ds.y_train[idx])
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            acc = float((model(ds.x_test).argmax(1) == ds.y_test).float().mean())
        log(f"epoch {epoch + 1}: last batch loss {float(loss.detach()):.4f}, test accuracy {acc:.3f}")
    os.makedirs(os.path.dirname(os.path.abspath(args.checkpoint)), exist_ok=True)
    torch.save({"state": model.state_dict(), "width": args.width, "epochs": args.train_epochs, "seed": args.seed,
                "test_accuracy": acc}, args.checkpoint)


def scale_problem(args, dtype=torch.float32):
    """(module in eval mode, x, y, loss_fn, params, keys) for the cached network and the fixed batch."""
    from weightspace import data

    ckpt = torch.load(args.checkpoint)
    model = resnet(ckpt["width"])
    model.load_state_dict(ckpt["state"])
    model = model.to(dtype).eval()
    ds = data.load("digits", image=True, dtype=dtype)
    x, y = ds.x_train[:args.batch], ds.y_train[:args.batch]
    loss_fn, keys = loss_of(model, x, y, kind="cross_entropy")
    return model, x, y, loss_fn, state_of(model), keys


def scale_child(args) -> dict:
    """One job of SCALE_JOBS in this (fresh) process: HVPs, seconds, values, and the process's peak RSS."""
    job = args.child_scale
    model, x, y, loss_fn, params, keys = scale_problem(args, torch.float64 if job == "reference" else torch.float32)
    k, gen = args.k, torch.Generator().manual_seed(args.seed)
    calls = [0]

    def count(c):
        calls[0] = c

    out: dict = {"job": job}
    t0 = time.perf_counter()
    if job == "baseline":
        op = _Operator(loss_fn, params, keys, "bench")
        v = torch.randn(op.n, generator=gen)
        times = []
        for _ in range(args.repeats):
            t1 = time.perf_counter()
            op.matvec(v)
            times.append(time.perf_counter() - t1)
        out["hvp_seconds"] = min(times)
        calls[0] = op.calls
    elif job == "reference":
        vals, _ = lanczos(loss_fn, params, k, which="LM", tol=args.ref_tol, keys=keys, generator=gen,
                          method="arpack", vectors=False, callback=count)
        out["eigenvalues"] = vals.tolist()
    elif job.startswith("two-pass"):
        vals, _ = lanczos(loss_fn, params, k, which="LM", tol=args.tol, keys=keys, generator=gen, method="two-pass",
                          vectors=job != "two-pass, no vectors", callback=count)
        out["eigenvalues"] = vals.tolist()
    elif job == "trace":
        est = trace_estimate(loss_fn, params, samples=args.trace_samples, generator=gen, keys=keys)
        calls[0] = args.trace_samples
        out["trace"] = est.to_dict()
    else:  # PyHessian, on the same module, batch and loss
        import importlib

        import numpy as np

        ph = importlib.import_module("pyhessian.hessian")  # the module; `pyhessian.hessian` the attribute is the class

        inner = ph.hessian_vector_product

        def counted(*a):
            calls[0] += 1
            return inner(*a)

        ph.hessian_vector_product = counted
        torch.manual_seed(args.seed)  # PyHessian draws from the global RNG
        h = ph.hessian(model, nn.CrossEntropyLoss(), data=(x, y), cuda=False)
        if job == "pyhessian":
            vals, _ = h.eigenvalues(top_n=k, maxIter=args.pyhessian_maxiter, tol=args.pyhessian_tol)
            out["eigenvalues"] = sorted(vals)
        else:
            q = np.asarray(h.trace(maxIter=args.trace_samples, tol=0.0))  # tol 0: all samples
            out["trace"] = {"mean": float(q.mean()), "stderr": float(q.std(ddof=1) / math.sqrt(len(q))),
                            "samples": len(q)}
    out["seconds"] = time.perf_counter() - t0
    out["hvps"] = calls[0]
    out["peak_rss"] = peak_rss()
    out["params"] = sum(params[key].numel() for key in keys)
    return out


def bench_scale(args) -> dict:
    if not os.path.exists(args.checkpoint):
        log(f"training ResNet-20x{args.width} on digits ({args.train_epochs} epochs) -> {args.checkpoint}")
        train_resnet(args)
    rows = {}
    for job in SCALE_JOBS:
        log(f"{job} (fresh process)")
        cmd = [sys.executable, __file__, "--child-scale", job]
        for name in ("checkpoint", "batch", "seed", "threads", "k", "tol", "ref_tol", "trace_samples", "repeats",
                     "pyhessian_maxiter", "pyhessian_tol"):
            cmd += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
        env = {**os.environ, **({} if job == "two-pass, glibc default" else LEAN_MALLOC)}
        rows[job] = json.loads(subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, env=env).stdout)
        log(f"  {rows[job]['hvps']} HVPs, {rows[job]['seconds']:.1f} s")
    n = rows["baseline"]["params"]
    ref = sorted(rows["reference"]["eigenvalues"], key=abs, reverse=True)
    for r in rows.values():
        r["beyond_mb"] = (r["peak_rss"] - rows["baseline"]["peak_rss"]) / 2**20
        r["beyond_p4"] = (r["peak_rss"] - rows["baseline"]["peak_rss"]) / (4 * n)
        if "eigenvalues" in r:
            got = sorted(r["eigenvalues"], key=abs, reverse=True)
            r["max_rel_error"] = max(abs(a - b) / abs(b) for a, b in zip(got, ref, strict=True))
    ours, theirs = rows["two-pass"], rows["pyhessian"]
    verdict = {"memory": ours["beyond_p4"] <= 12, "hvps": ours["hvps"] < theirs["hvps"],
               "error": ours["max_rel_error"] <= theirs["max_rel_error"]}
    return {"params": n, "jobs": rows, "verdict": verdict, "checkpoint": torch.load(args.checkpoint)["test_accuracy"]}


def markdown_scale(res: dict) -> str:
    cfg, sc = res["config"], res["scale"]
    n, rows = sc["params"], sc["jobs"]
    base = rows["baseline"]
    lines = [f"torch {res['torch']}, {res['threads']} threads, {res['machine']}; total {res['total_s']:.0f} s; "
             f"1-min load average {res['load_before']:.2f} before, {res['load_after']:.2f} after", "",
             f"### Top-{cfg['k']} Hessian eigenvalues (largest magnitude) of a trained ResNet-20x{cfg['width']} "
             f"({n:,} parameters, P·4 = {n * 4 / 2**20:.1f} MiB; test accuracy {sc['checkpoint']:.3f}), "
             f"one batch of {cfg['batch']} digits images", "",
             f"Baseline process (model + batch + linearised gradient + one HVP): peak RSS "
             f"{base['peak_rss'] / 2**20:.0f} MiB; one HVP {base['hvp_seconds']:.3f} s (best of {cfg['repeats']}). "
             "Memory columns are peak RSS minus the baseline's.", "",
             "| method | HVPs | wall time (s) | memory beyond baseline (MiB) | ÷ (P·4 B) | max rel. error |",
             "|---|---:|---:|---:|---:|---:|"]
    names = {"reference": f"reference: ARPACK, float64, tol {cfg['ref_tol']:g}",
             "two-pass": f"weightspace two-pass Lanczos, tol {cfg['tol']:g}, with eigenvectors",
             "two-pass, no vectors": f"weightspace two-pass Lanczos, tol {cfg['tol']:g}, eigenvalues only",
             "two-pass, glibc default": "(same, with eigenvectors, glibc's default allocator)",
             "pyhessian": f"PyHessian power iteration, maxIter {cfg['pyhessian_maxiter']}, "
                          f"tol {cfg['pyhessian_tol']:g}"}
    for job, name in names.items():
        r = rows[job]
        err = "—" if job == "reference" else f"{r['max_rel_error']:.1e}"
        lines.append(f"| {name} | {r['hvps']} | {r['seconds']:.1f} | {r['beyond_mb']:.0f} | {r['beyond_p4']:.1f} | "
                     f"{err} |")
    v = sc["verdict"]
    ours, theirs = rows["two-pass"], rows["pyhessian"]
    lines += ["", f"Verdict (two-pass with eigenvectors): memory {ours['beyond_p4']:.1f}·P·4 ≤ 12·P·4: "
              f"{'yes' if v['memory'] else 'NO'}; HVPs {ours['hvps']} < PyHessian's {theirs['hvps']}: "
              f"{'yes' if v['hvps'] else 'NO'}; error {ours['max_rel_error']:.1e} ≤ PyHessian's "
              f"{theirs['max_rel_error']:.1e}: {'yes' if v['error'] else 'NO'}. Eigenvalues only: "
              f"{rows['two-pass, no vectors']['hvps']} HVPs, {rows['two-pass, no vectors']['beyond_p4']:.1f}·P·4.", "",
              f"### Hutchinson trace, {cfg['trace_samples']} Rademacher samples", "",
              "| method | estimate ± s.e. | HVPs | wall time (s) | per HVP (s) | memory beyond baseline (MiB) "
              "| ÷ (P·4 B) |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for job, name in (("trace", "weightspace trace_estimate (chunk=None)"), ("pyhessian trace", "PyHessian trace")):
        r = rows[job]
        t = r["trace"]
        lines.append(f"| {name} | {t['mean']:.5g} ± {t['stderr']:.2g} | {r['hvps']} | {r['seconds']:.1f} | "
                     f"{r['seconds'] / max(r['hvps'], 1):.3f} | {r['beyond_mb']:.0f} | {r['beyond_p4']:.1f} |")
    ref = sorted(rows["reference"]["eigenvalues"], key=abs, reverse=True)
    lines += ["", "Reference eigenvalues: " + ", ".join(f"{e:.6g}" for e in ref)]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", type=int, nargs="+", default=[500, 1000, 2000, 4000],
                    help="parameter counts for the dense-Hessian scaling table")
    ap.add_argument("--spectral-params", type=int, default=3000, help="parameter count for Lanczos vs power iteration")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--tol", type=float, default=1e-6)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--chunk", type=int, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="timings are the best of this many runs")
    ap.add_argument("--out", default=None, help="JSON file for results and config")
    ap.add_argument("--scale", choices=["resnet"], default=None,
                    help="issue 14: top-10 and trace of a trained ResNet-20 beside PyHessian (module docstring)")
    ap.add_argument("--width", type=int, default=4, help="--scale: ResNet-20 width multiplier")
    ap.add_argument("--checkpoint", default=None, help="--scale: cached trained network (default out/...)")
    ap.add_argument("--train-epochs", type=int, default=10)
    ap.add_argument("--ref-tol", type=float, default=1e-9, help="--scale: ARPACK reference tolerance")
    ap.add_argument("--trace-samples", type=int, default=32)
    ap.add_argument("--pyhessian-maxiter", type=int, default=100)
    ap.add_argument("--pyhessian-tol", type=float, default=1e-3)
    ap.add_argument("--child-dense", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--child-scale", choices=SCALE_JOBS, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.child_dense is not None:
        print(json.dumps(dense_child(args.child_dense, args.batch, args.seed, args.chunk, args.repeats)))
        return
    if args.child_scale is not None:
        print(json.dumps(scale_child(args)))
        return
    if args.scale is not None:
        if args.checkpoint is None:
            args.checkpoint = f"out/hessian_resnet20x{args.width}_e{args.train_epochs}_s{args.seed}.pt"
        if "--batch" not in sys.argv:
            args.batch = 32
        if "--tol" not in sys.argv:
            args.tol = 1e-4
        if "--repeats" not in sys.argv:
            args.repeats = 3
        report(args, lambda res: res.update(scale=bench_scale(args)), markdown_scale)
        return

    def small(res: dict) -> None:
        res["spectral"] = bench_spectral(args.spectral_params, args.batch, args.seed, args.k, args.tol, args.repeats)
        log("HVP implementations")
        res["hvp"] = bench_hvp(args.spectral_params, args.batch, args.seed, args.repeats)
        res["dense"] = bench_dense(args.params, args.batch, args.seed, args.chunk, args.repeats)

    report(args, small, markdown)


def report(args, measure, render) -> None:
    """Run `measure(res)` between the environment's record and the load after it; print `render(res)`, save --out."""
    t0 = time.perf_counter()
    res = {"config": vars(args), "torch": torch.__version__, "threads": torch.get_num_threads(),
           "machine": f"{platform.machine()} {platform.processor() or platform.system()}", "command": sys.argv,
           "load_before": os.getloadavg()[0]}
    measure(res)
    res["total_s"] = time.perf_counter() - t0
    res["load_after"] = os.getloadavg()[0]
    print(render(res))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(res, fh, indent=1)


if __name__ == "__main__":
    main()
