"""A bidirectional LSTM sequence classifier, and seq2seq with Luong attention reversing digits.

1. BiLSTM classifier: is a digit string a palindrome? The final forward and backward states
   (each having read the whole string from its own end) are concatenated and classified.
2. Encoder-decoder (Sutskever et al. 2014) with Luong et al. 2015 global attention: at each
   output step the decoder state h_t scores every encoder state h_s, with score = h_t . h_s
   ("dot") or h_t . W h_s ("general"); a_t = softmax(scores), c_t = sum_s a_ts h_s, and
   y_t = W_s tanh(W_c [c_t; h_t]). Trained with teacher forcing, evaluated by greedy decoding
   on held-out strings (target >= 99% exact match). Figure: attention maps (attention.png),
   which for reversal should be the anti-diagonal.

    python examples/seq2seq_attention.py --epochs 4
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common
from common import F, as_tensor, nn, nx, to_numpy

BOS = 10  # decoder start token; digits are 0..9


def digit_strings(n: int, length: int, rng, exclude: set | None = None) -> np.ndarray:
    x = rng.integers(0, 10, size=(n, length))
    if exclude:
        keep = np.array([tuple(r) not in exclude for r in x.tolist()])
        x = x[keep]
    return x.astype(np.int64)


def palindromes(n: int, length: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Half palindromes, half strings with one mirrored position changed (hard negatives)."""
    half = rng.integers(0, 10, size=(n, (length + 1) // 2))
    x = np.concatenate([half, half[:, : length // 2][:, ::-1]], 1)
    y = (rng.random(n) < 0.5).astype(np.int64)
    for i in np.nonzero(y == 0)[0]:
        j = rng.integers(0, length // 2)
        x[i, length - 1 - j] = (x[i, j] + rng.integers(1, 10)) % 10
    return x.astype(np.int64), y


class BiLSTMClassifier(nn.Module):
    def __init__(self, vocab: int = 10, emb: int = 32, hidden: int = 64, classes: int = 2) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, emb)
        self.lstm = nn.LSTM(emb, hidden, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(2 * hidden, classes)

    def forward(self, x):
        _, (h, _) = self.lstm(self.embed(x))  # h: (2, N, H) = last forward, last backward
        return self.fc(nx.cat([h[0], h[1]], 1))


class Seq2Seq(nn.Module):
    """Encoder LSTM, decoder LSTM, Luong attention ('dot' or 'general')."""

    def __init__(self, score: str = "dot", vocab: int = 11, emb: int = 32, hidden: int = 128) -> None:
        super().__init__()
        self.score = score
        self.src_embed = nn.Embedding(vocab, emb)
        self.tgt_embed = nn.Embedding(vocab, emb)
        self.encoder = nn.LSTM(emb, hidden, batch_first=True)
        self.decoder = nn.LSTM(emb, hidden, batch_first=True)
        self.W_a = nn.Linear(hidden, hidden, bias=False) if score == "general" else None
        self.W_c = nn.Linear(2 * hidden, hidden)
        self.W_s = nn.Linear(hidden, 10)

    def encode(self, src):
        enc, state = self.encoder(self.src_embed(src))
        keys = self.W_a(enc) if self.W_a is not None else enc
        return enc, keys, state

    def attend(self, dec, enc, keys):
        """dec (N, T, H), enc/keys (N, S, H) -> logits (N, T, 10), attention (N, T, S)."""
        a = F.softmax(dec @ keys.transpose(1, 2), dim=-1)  # batched matmul (nx.bmm is missing)
        ctx = a @ enc
        return self.W_s(nx.tanh(self.W_c(nx.cat([ctx, dec], 2)))), a

    def forward(self, src, tgt_in):
        enc, keys, state = self.encode(src)
        dec, _ = self.decoder(self.tgt_embed(tgt_in), state)
        return self.attend(dec, enc, keys)

    def greedy(self, src, length: int):
        """Greedy decoding: (N, length) predictions and (N, length, S) attention."""
        enc, keys, state = self.encode(src)
        tok = as_tensor(np.full((src.shape[0], 1), BOS), src.device)
        preds, attn = [], []
        for _ in range(length):
            dec, state = self.decoder(self.tgt_embed(tok), state)
            logits, a = self.attend(dec, enc, keys)
            p = to_numpy(logits)[:, 0].argmax(1)
            preds.append(p)
            attn.append(to_numpy(a)[:, 0])
            tok = as_tensor(p[:, None], src.device)
        return np.stack(preds, 1), np.stack(attn, 1)


def batches(n: int, bs: int, rng):
    idx = rng.permutation(n)
    for s in range(0, n, bs):
        yield idx[s : s + bs]


def train_loop(name, model, opt, epochs, n, bs, loss_of, rng, log_every) -> tuple[list, list]:
    prog = common.Progress(name, epochs, -(-n // bs), log_every)
    losses, times = [], []
    for ep in range(epochs):
        model.train()
        t0 = time.time()
        for i, b in enumerate(batches(n, bs, rng)):
            loss = loss_of(b)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            losses.append(float(loss.item()))
            prog.step(ep, i, losses[-1])
        times.append(time.time() - t0)
    return losses, times


def main(argv: list | None = None) -> dict:
    p = common.parser(__doc__.splitlines()[0], epochs=4, batch_size=64, lr=3e-3)
    p.add_argument("--length", type=int, default=8, help="digits per string")
    p.add_argument("--train-size", type=int, default=20000, help="training strings (--limit, if set, wins)")
    p.add_argument("--test-size", type=int, default=1000)
    p.add_argument("--scores", default="dot,general")
    args = common.setup(p.parse_args(argv), "seq2seq_attention", argv)
    n = args.limit or args.train_size
    rng, dev, L = args.rng, args.device, args.length
    results = {}

    # 1. bidirectional LSTM classifier
    xc, yc = palindromes(n, L, rng)
    xct, yct = palindromes(args.test_size, L, np.random.default_rng(args.seed + 100))
    nx.manual_seed(args.seed)
    clf = BiLSTMClassifier().to(dev)
    opt = nx.optim.Adam(clf.parameters(), lr=args.lr)
    losses, times = train_loop(
        "bilstm",
        clf,
        opt,
        args.epochs,
        len(xc),
        args.batch_size,
        lambda b: F.cross_entropy(clf(as_tensor(xc[b], dev)), as_tensor(yc[b], dev)),
        rng,
        args.log_every,
    )
    clf.eval()
    with nx.no_grad():
        acc = float((to_numpy(clf(as_tensor(xct, dev))).argmax(1) == yct).mean())
    s, e = common.loss_drop(losses)
    results["bilstm_palindrome"] = {
        "test_acc": acc,
        "loss_start": s,
        "loss_end": e,
        "epochs": args.epochs,
        "sec_per_epoch": float(np.mean(times)),
    }
    print(f"bilstm palindrome classifier: test accuracy {acc:.4f}", flush=True)

    # 2. seq2seq reversal with attention
    src = digit_strings(n, L, rng)
    test = digit_strings(
        args.test_size, L, np.random.default_rng(args.seed + 200), exclude={tuple(r) for r in src.tolist()}
    )
    tgt = src[:, ::-1].copy()
    tgt_in = np.concatenate([np.full((len(tgt), 1), BOS), tgt[:, :-1]], 1)
    maps = {}
    for score in args.scores.split(","):
        nx.manual_seed(args.seed)
        model = Seq2Seq(score).to(dev)
        opt = nx.optim.Adam(model.parameters(), lr=args.lr)

        def loss_of(b, m=model):
            logits, _ = m(as_tensor(src[b], dev), as_tensor(tgt_in[b], dev))
            return F.cross_entropy(logits.reshape(-1, 10), as_tensor(tgt[b].reshape(-1), dev))

        losses, times = train_loop(
            f"seq2seq-{score}", model, opt, args.epochs, len(src), args.batch_size, loss_of, rng, args.log_every
        )
        model.eval()
        with nx.no_grad():
            pred, attn = model.greedy(as_tensor(test, dev), L)
        exact = float((pred == test[:, ::-1]).all(1).mean())
        per_digit = float((pred == test[:, ::-1]).mean())
        s, e = common.loss_drop(losses)
        results[f"seq2seq_{score}"] = {
            "exact_match": exact,
            "digit_acc": per_digit,
            "loss_start": s,
            "loss_end": e,
            "epochs": args.epochs,
            "sec_per_epoch": float(np.mean(times)),
            "params": common.num_params(model),
        }
        print(
            f"seq2seq {score}: held-out exact match {exact:.4f} (digits {per_digit:.4f}); "
            f"{''.join(map(str, test[0]))} -> {''.join(map(str, pred[0]))}",
            flush=True,
        )
        maps[score] = (test[0], attn[0])
    plt = common.plt()
    fig, axes = plt.subplots(1, len(maps), figsize=(5 * len(maps), 4.5), squeeze=False)
    for ax, (score, (x, a)) in zip(axes[0], maps.items()):
        ax.imshow(a, cmap="viridis", vmin=0, vmax=1)
        ax.set_xticks(range(L), [str(d) for d in x])
        ax.set_yticks(range(L), [str(d) for d in x[::-1]])
        ax.set_xlabel("source")
        ax.set_ylabel("output")
        ax.set_title(f"Luong attention ({score})")
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "attention.png"), dpi=100)
    plt.close(fig)
    results["target_exact_match"] = 0.99
    return common.finish(args, results)


if __name__ == "__main__":
    main()
