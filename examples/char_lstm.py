"""Character-level LSTM (or GRU) language model on the King James Bible (target <= 1.6 bits/char).

Embedding -> multi-layer LSTM -> Linear over the 63-symbol vocabulary. The training text is
cut into --batch-size parallel streams and read --bptt characters at a time (truncated
backprop through time): the hidden state carries over between chunks but its history is
detached. Gradients are clipped to norm --clip. Reports bits/char (cross-entropy / ln 2)
on the held-out last 10% of the text, prints samples, plots the loss (bpc.png).

    python examples/char_lstm.py --epochs 4 [--cell gru] [--limit 500000] [--holdout blocks --val-chars 0]
"""

from __future__ import annotations

import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common
from common import F, as_tensor, nn, nx, to_numpy


class CharRNN(nn.Module):
    """(N, T) int64 ids -> (N, T, V) logits, with the recurrent state in and out."""

    def __init__(
        self, vocab: int, emb: int = 64, hidden: int = 256, layers: int = 2, cell: str = "lstm", dropout: float = 0.2
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, emb)
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = rnn(emb, hidden, num_layers=layers, dropout=dropout if layers > 1 else 0.0, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x, state=None):
        out, state = self.rnn(self.embed(x), state)
        return self.head(out), state


def detach(state):
    if state is None:
        return None
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def streams(ids: np.ndarray, batch: int) -> np.ndarray:
    """(len,) -> (batch, len // batch): row b is the b-th contiguous slice of the text."""
    n = len(ids) // batch
    return ids[: n * batch].reshape(batch, n)


def chunks(data: np.ndarray, bptt: int):
    for t in range(0, data.shape[1] - 1, bptt):
        s = min(bptt, data.shape[1] - 1 - t)
        yield data[:, t : t + s], data[:, t + 1 : t + 1 + s]


def bits_per_char(model, data: np.ndarray, bptt: int, device) -> float:
    model.eval()
    tot, n, state = 0.0, 0, None
    with nx.no_grad():
        for x, y in chunks(data, bptt):
            logits, state = model(as_tensor(x, device), state)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), as_tensor(y.reshape(-1), device))
            tot += float(loss.item()) * y.size
            n += y.size
    return tot / max(n, 1) / math.log(2)


def sample(model, corpus, prime: str, n: int, device, temperature: float = 0.8, rng=None) -> str:
    rng = rng or np.random.default_rng(0)
    model.eval()
    out = list(prime)
    with nx.no_grad():
        logits, state = model(as_tensor(corpus.encode(prime)[None], device))
        for _ in range(n):
            z = to_numpy(logits)[0, -1].astype(np.float64) / temperature
            pr = np.exp(z - z.max())
            i = int(rng.choice(len(pr), p=pr / pr.sum()))
            out.append(corpus.vocab[i])
            logits, state = model(as_tensor(np.array([[i]]), device), state)
    return "".join(out)


def main(argv: list | None = None) -> dict:
    p = common.parser(__doc__.splitlines()[0], epochs=4, batch_size=32, lr=2e-3)
    p.add_argument("--cell", default="lstm", choices=["lstm", "gru"])
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--bptt", type=int, default=100)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--val-chars", type=int, default=200_000, help="held-out characters evaluated (0: all)")
    p.add_argument(
        "--holdout",
        default="tail",
        choices=["tail", "blocks"],
        help="held-out 10%%: the end of the text (tail) or every 10th block of 10,000 characters (blocks)",
    )
    p.add_argument("--sample-chars", type=int, default=300)
    args = p.parse_args(argv)
    args.out = args.out or os.path.join(common.DEFAULT_OUT, f"char_{args.cell}")
    args = common.setup(args, "char_lstm", argv)
    try:
        text = nx.data.datasets.kjv_text()
    except ImportError as e:
        raise common.DataMissing(str(e)) from e
    corpus = nx.data.CharCorpus(text, seq_len=args.bptt, split="train", holdout=args.holdout)
    val_ids = nx.data.CharCorpus(text, seq_len=args.bptt, split="val", vocab=corpus.vocab, holdout=args.holdout).ids
    train_ids = corpus.ids[: args.limit] if args.limit else corpus.ids
    val_max = args.val_chars or len(val_ids)
    val_ids = val_ids[: min(val_max, max(args.limit, 10_000))] if args.limit else val_ids[:val_max]
    train = streams(train_ids, args.batch_size)
    val = streams(val_ids, min(args.batch_size, max(1, len(val_ids) // (args.bptt + 1))))
    print(f"vocab {corpus.vocab_size}, train {len(train_ids)} chars, val {len(val_ids)} chars", flush=True)

    model = CharRNN(corpus.vocab_size, hidden=args.hidden, layers=args.layers, cell=args.cell).to(args.device)
    opt = nx.optim.Adam(model.parameters(), lr=args.lr)
    steps = -(-(train.shape[1] - 1) // args.bptt)
    sched = nx.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, args.epochs * steps))
    prog = common.Progress(args.cell, args.epochs, steps, args.log_every)
    step_losses, val_bpc, epoch_time = [], [], []
    for ep in range(args.epochs):
        model.train()
        state, t0 = None, time.time()
        for i, (x, y) in enumerate(chunks(train, args.bptt)):
            logits, state = model(as_tensor(x, args.device), detach(state))
            loss = F.cross_entropy(logits.reshape(-1, corpus.vocab_size), as_tensor(y.reshape(-1), args.device))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            opt.step()
            sched.step()
            step_losses.append(float(loss.item()))
            prog.step(ep, i, step_losses[-1], f" bpc {step_losses[-1] / math.log(2):.3f}")
        epoch_time.append(time.time() - t0)
        val_bpc.append(bits_per_char(model, val, args.bptt, args.device))
        prog.epoch(
            ep,
            train_bpc=float(np.mean(step_losses[-steps:])) / math.log(2),
            val_bpc=val_bpc[-1],
            epoch_s=epoch_time[-1],
        )
        print(sample(model, corpus, "And God said", args.sample_chars, args.device, rng=args.rng), flush=True)
    samples = [
        sample(model, corpus, prime, args.sample_chars, args.device, rng=args.rng)
        for prime in ("In the beginning", "And Jesus")
    ]
    for s in samples:
        print("---\n" + s)
    common.plot_curves(
        {"train (per step)": np.asarray(step_losses) / math.log(2)},
        os.path.join(args.out, "bpc.png"),
        xlabel="step",
        ylabel="bits/char",
        title=f"char-{args.cell} on KJV",
        smooth=max(1, min(50, len(step_losses) // 10)),
    )
    start, end = common.loss_drop(step_losses)
    results = {
        args.cell: {
            "val_bpc": val_bpc[-1],
            "val_bpc_per_epoch": val_bpc,
            "holdout": args.holdout,
            "val_chars": int(len(val_ids)),
            "epochs": args.epochs,
            "sec_per_epoch": float(np.mean(epoch_time)),
            "loss_start": start,
            "loss_end": end,
            "params": common.num_params(model),
        },
        "samples": samples,
        "target_bpc": 1.6,
    }
    return common.finish(args, results)


if __name__ == "__main__":
    main()
