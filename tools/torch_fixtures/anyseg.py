"""AnySeg's student loss terms (losses/anyseg.h; tests/models/test_anyseg.cpp).

tests/fixtures/anyseg_losses.safetensors holds seeded random per-stage features of 3 kept
modalities for the student (`student_s{s}_m{j}`) and the teacher (`teacher_s{s}_m{j}`), student
and teacher logits, a label map with ignored pixels, and PyTorch's values of
  umd    mean over (stage, modality) of the per-position channel KL(softmax(t) || softmax(s))
  umd_m0 the same with modality 0 kept alone
  cmd    mean over (stage, pair i<j) of mse(cos_c(s_i, s_j), cos_c(t_i, t_j))
  mad    per-pixel KL(softmax(teacher logits) || softmax(student logits)), mean over all pixels
  ce     cross-entropy over labelled pixels (255 ignored)
  total  ce + 5 umd + 10 cmd + 50 mad
with the gradient of `total` for every student tensor (`grad_student_s{s}_m{j}`, `grad_student_logits`).
"""
import itertools
import os

import torch
import torch.nn.functional as F

from ._common import save_safetensors

STAGE_SHAPES = [(2, 4, 3, 3), (2, 6, 2, 2)]
MODALITIES = 3


def _kl_channels(student, teacher):
    """Mean over positions of KL(softmax_c(teacher) || softmax_c(student))."""
    return F.kl_div(F.log_softmax(student, 1), F.softmax(teacher, 1), reduction="none").sum(1).mean()


def _umd(student, teacher, kept):
    terms = [_kl_channels(student[s][j], teacher[s][j]) for s in range(len(STAGE_SHAPES)) for j in kept]
    return torch.stack(terms).mean()


def _cmd(student, teacher):
    terms = []
    for s in range(len(STAGE_SHAPES)):
        for i, j in itertools.combinations(range(MODALITIES), 2):
            terms.append(F.mse_loss(F.cosine_similarity(student[s][i], student[s][j], dim=1),
                                    F.cosine_similarity(teacher[s][i], teacher[s][j], dim=1)))
    return torch.stack(terms).mean()


def write(out_dir):
    gen = torch.Generator().manual_seed(4242)
    student = [[(torch.randn(*shape, generator=gen) * 1.5).requires_grad_(True) for _ in range(MODALITIES)]
               for shape in STAGE_SHAPES]
    teacher = [[torch.randn(*shape, generator=gen) * 1.5 for _ in range(MODALITIES)] for shape in STAGE_SHAPES]
    student_logits = (torch.randn(2, 4, 5, 5, generator=gen) * 2.0).requires_grad_(True)
    teacher_logits = torch.randn(2, 4, 5, 5, generator=gen) * 2.0
    labels = torch.randint(0, 4, (2, 5, 5), generator=gen)
    labels.view(-1)[torch.randperm(labels.numel(), generator=gen)[:7]] = 255

    umd = _umd(student, teacher, range(MODALITIES))
    umd_m0 = _umd(student, teacher, [0])
    cmd = _cmd(student, teacher)
    mad = _kl_channels(student_logits, teacher_logits)
    ce = F.cross_entropy(student_logits, labels, ignore_index=255)
    total = ce + 5 * umd + 10 * cmd + 50 * mad
    leaves = [t for stage in student for t in stage] + [student_logits]
    grads = torch.autograd.grad(total, leaves)

    out = {"student_logits": student_logits, "teacher_logits": teacher_logits, "labels": labels,
           "umd": umd, "umd_m0": umd_m0, "cmd": cmd, "mad": mad, "ce": ce, "total": total,
           "grad_student_logits": grads[-1]}
    for s in range(len(STAGE_SHAPES)):
        for j in range(MODALITIES):
            out[f"student_s{s}_m{j}"] = student[s][j]
            out[f"teacher_s{s}_m{j}"] = teacher[s][j]
            out[f"grad_student_s{s}_m{j}"] = grads[s * MODALITIES + j]
    out = {k: v.detach() for k, v in out.items()}
    path = os.path.join(out_dir, "anyseg_losses.safetensors")
    return [save_safetensors(path, out, metadata={"torch": torch.__version__, "seed": 4242})]
