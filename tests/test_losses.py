import torch

from gankit import losses


def test_losses_match_the_papers_formulas():
    real, fake = torch.tensor([2.0, -0.5, 0.3]), torch.tensor([-1.0, 0.7, 0.0])
    d_x, d_gz = torch.sigmoid(real), torch.sigmoid(fake)
    expected_d = -(torch.log(d_x).mean() + torch.log(1 - d_gz).mean())
    assert torch.allclose(losses.d_loss_bce(real, fake), expected_d, atol=1e-6)
    assert torch.allclose(losses.g_loss_minimax(fake), torch.log(1 - d_gz).mean(), atol=1e-6)
    assert torch.allclose(losses.g_loss_non_saturating(fake), -torch.log(d_gz).mean(), atol=1e-6)


def test_minimax_gradient_vanishes_when_d_wins_non_saturating_does_not():
    confident = torch.full((8,), -12.0, requires_grad=True)   # D(G(z)) ~ 6e-6
    losses.g_loss_minimax(confident).backward()
    minimax_grad = confident.grad.abs().mean()
    confident.grad = None
    losses.g_loss_non_saturating(confident).backward()
    assert minimax_grad < 1e-5 and confident.grad.abs().mean() > 0.1


def test_losses_stay_finite_for_extreme_logits():
    big = torch.tensor([1e4, -1e4])
    assert torch.isfinite(losses.d_loss_bce(big, -big)) and torch.isfinite(losses.g_loss_non_saturating(-big))
