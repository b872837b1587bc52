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

from weightspace.hessian import dense_hessian, flatten, hvp, lanczos, loss_of, power_iteration, unflatten
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
    ap.add_argument("--child-dense", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.child_dense is not None:
        print(json.dumps(dense_child(args.child_dense, args.batch, args.seed, args.chunk, args.repeats)))
        return
    t0 = time.perf_counter()
    res = {"config": vars(args), "torch": torch.__version__, "threads": torch.get_num_threads(),
           "machine": f"{platform.machine()} {platform.processor() or platform.system()}", "command": sys.argv}
    res["load_before"] = os.getloadavg()[0]
    res["spectral"] = bench_spectral(args.spectral_params, args.batch, args.seed, args.k, args.tol, args.repeats)
    log("HVP implementations")
    res["hvp"] = bench_hvp(args.spectral_params, args.batch, args.seed, args.repeats)
    res["dense"] = bench_dense(args.params, args.batch, args.seed, args.chunk, args.repeats)
    res["total_s"] = time.perf_counter() - t0
    res["load_after"] = os.getloadavg()[0]
    print(markdown(res))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(res, fh, indent=1)


if __name__ == "__main__":
    main()
