"""Checks for notebook 02's exercises: episode splitting, ProtoNet logits, a MAML inner step."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import Exercise, _close, _fail


def reference_split_episode(class_images: Tensor, k_shot: int
                            ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``[n_way, k_shot + n_query, C, H, W]`` → support_x, support_y, query_x, query_y.

    Row ``c`` of ``class_images`` becomes label ``c``: labels are always 0..n_way−1, whatever the
    classes' ids in the data set.
    """
    n_way, n_examples = class_images.shape[:2]
    n_query = n_examples - k_shot
    labels = torch.arange(n_way)
    support_x = class_images[:, :k_shot].reshape(n_way * k_shot, *class_images.shape[2:])
    query_x = class_images[:, k_shot:].reshape(n_way * n_query, *class_images.shape[2:])
    return support_x, labels.repeat_interleave(k_shot), query_x, labels.repeat_interleave(n_query)


def _check_split_episode(answer: Callable) -> str:
    n_way, k_shot, n_query = 4, 2, 3
    # Each image holds a unique id: 10·class + example, so the check can see what went where.
    ids = (10 * torch.arange(n_way)[:, None] + torch.arange(k_shot + n_query)).float()
    class_images = ids[:, :, None, None, None].expand(-1, -1, 1, 2, 2).clone()
    support_x, support_y, query_x, query_y = answer(class_images, k_shot)
    if tuple(support_x.shape) != (n_way * k_shot, 1, 2, 2):
        _fail(f"support_x should be [n_way·k_shot, C, H, W] = {(n_way * k_shot, 1, 2, 2)}, "
              f"got {tuple(support_x.shape)}")
    if tuple(query_x.shape) != (n_way * n_query, 1, 2, 2):
        _fail(f"query_x should be [n_way·n_query, C, H, W] = {(n_way * n_query, 1, 2, 2)}, "
              f"got {tuple(query_x.shape)}")
    support_ids, query_ids = support_x[:, 0, 0, 0].long(), query_x[:, 0, 0, 0].long()
    if set(support_ids.tolist()) & set(query_ids.tolist()):
        _fail("support and query overlap: the first k_shot examples of each class go to the "
              "support set, the rest to the query set")
    for x_ids, y, name in ((support_ids, support_y, "support"), (query_ids, query_y, "query")):
        if sorted(set(y.tolist())) != list(range(n_way)):
            _fail(f"{name}_y must hold exactly the labels 0..n_way−1, got {sorted(set(y.tolist()))}")
        if not torch.equal(x_ids // 10, y.long()):
            _fail(f"{name}_y does not match {name}_x: the image from row c of class_images "
                  "must get label c (check the order of repeat_interleave vs repeat)")
    return "Labels are 0..n_way−1, aligned with their images, and support ∩ query = ∅."


split_episode = Exercise(
    "splitting an episode into support and query", _check_split_episode,
    ("Row c of class_images holds class c, so an image's label is its row index. The first "
     "k_shot drawings of every row go to the support set, the remaining ones to the query "
     "set.",
     "Slice along dimension 1, then merge the first two dimensions (reshape or flatten(0, "
     "1)) so that the drawings of one class stay next to each other. The labels must follow "
     "that order: each class index repeated once per drawing (look at torch.arange with "
     "repeat_interleave, not repeat)."),
    reference_split_episode)


def reference_prototype_logits(support_embeddings: Tensor, support_y: Tensor,
                               query_embeddings: Tensor, n_way: int) -> Tensor:
    """Logits ``[n_query_total, n_way]`` = −‖query − prototype_c‖², prototype = class mean."""
    one_hot = F.one_hot(support_y, n_way).float()  # [n_support, n_way]
    prototypes = one_hot.T @ support_embeddings / one_hot.sum(0)[:, None]  # [n_way, dim]
    return -torch.cdist(query_embeddings, prototypes).pow(2)


def _check_prototype_logits(answer: Callable) -> str:
    generator = torch.Generator().manual_seed(2)
    n_way, k_shot = 3, 4
    support = torch.randn(n_way * k_shot, 5, generator=generator)
    support_y = torch.arange(n_way).repeat_interleave(k_shot)
    query = torch.randn(7, 5, generator=generator)
    got = answer(support, support_y, query, n_way)
    want = reference_prototype_logits(support, support_y, query, n_way)
    if _close(got, want):
        return "Logits are minus squared distances to the class means."
    if _close(got, -want):
        _fail("your logits have the wrong sign: a *closer* prototype must get a *larger* logit, "
              "so use minus the squared distance")
    if _close(got, -(-want).sqrt()):
        _fail("you used the plain Euclidean distance; ProtoNets use the *squared* distance, "
              "which makes the classifier linear in the query embedding")
    sum_prototypes = F.one_hot(support_y, n_way).float().T @ support
    if _close(got, -torch.cdist(query, sum_prototypes).pow(2)):
        _fail("your prototypes are sums of the support embeddings; divide by k_shot (take the mean)")
    _fail("logits differ from −‖query − mean of the class's support embeddings‖²")


prototype_logits = Exercise(
    "ProtoNet logits", _check_prototype_logits,
    ("A prototype is one vector per class, made from that class's support embeddings. A "
     "query's logit for a class must grow as the query gets closer to that class's "
     "prototype.",
     "Prototype c: the mean of the support embeddings labelled c (a one-hot matrix of "
     "support_y turns the per-class means into one matrix product, or loop over the "
     "classes). Logit: minus the squared Euclidean distance; broadcasting [Q, 1, D] against "
     "[1, N, D] gives every pair."),
    reference_prototype_logits)


def reference_inner_step(loss_fn: Callable[[dict[str, Tensor]], Tensor],
                         params: dict[str, Tensor], inner_lr: float) -> dict[str, Tensor]:
    """One MAML inner step: θ' = θ − inner_lr · ∇_θ L_support(θ), differentiable w.r.t. θ."""
    grads = torch.func.grad(loss_fn)(params)
    return {name: value - inner_lr * grads[name] for name, value in params.items()}


def _check_inner_step(answer: Callable) -> str:
    generator = torch.Generator().manual_seed(3)
    target = torch.randn(4, generator=generator)
    params = {"w": torch.randn(4, generator=generator, requires_grad=True)}

    def loss_fn(p: dict[str, Tensor]) -> Tensor:
        return ((p["w"] - target) ** 2).sum() + (p["w"] ** 4).sum() * 0.1

    got, want = answer(loss_fn, params, 0.1), reference_inner_step(loss_fn, params, 0.1)
    if not isinstance(got, dict) or set(got) != {"w"}:
        _fail("return a dict with the same keys as params, e.g. {name: new_value}")
    if _close(got["w"].detach(), params["w"].detach()):
        _fail("the parameters did not move: subtract inner_lr × gradient")
    if _close(got["w"].detach(), (2 * params["w"] - want["w"]).detach()):
        _fail("you climbed the loss: the step is θ − inner_lr·∇L, with a minus sign")
    if not _close(got["w"].detach(), want["w"].detach()):
        _fail("the step differs from θ − inner_lr·∇L; did you use inner_lr?")
    if not got["w"].requires_grad:
        _fail("your step cut the graph (detach or no_grad): second-order MAML must backpropagate "
              "through the inner step; use torch.func.grad or autograd.grad(create_graph=True)")
    outer = torch.autograd.grad((got["w"] ** 2).sum(), params["w"])[0]
    outer_want = torch.autograd.grad((want["w"] ** 2).sum(), params["w"])[0]
    if not _close(outer, outer_want):
        _fail("the step is right but its gradient is not: you dropped the second-order term "
              "(grads treated as constants). Use torch.func.grad so the graph is kept")
    return "θ' = θ − α∇L(θ), and the outer gradient flows through it (second order)."


inner_step = Exercise(
    "one MAML inner step", _check_inner_step,
    ("One step of gradient descent on every tensor of the dict, with step size inner_lr. The "
     "result must stay differentiable with respect to params: second-order MAML "
     "backpropagates through it.",
     "torch.func.grad turns loss_fn into a function that returns a dict of gradients with "
     "the same keys as params. Build a new dict from each parameter and its gradient; no "
     "detach, no torch.no_grad, and a minus sign (descent)."),
    reference_inner_step)
