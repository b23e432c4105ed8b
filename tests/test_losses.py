import math

import pytest
import torch
from torch import nn

from gankit import losses

KINDS = {"minimax", "non-saturating", "wasserstein", "hinge", "lsgan", "relativistic", "rpgan"}


def test_losses_match_the_papers_formulas():
    real, fake = torch.tensor([2.0, -0.5, 0.3]), torch.tensor([-1.0, 0.7, 0.0])
    d_x, d_gz = torch.sigmoid(real), torch.sigmoid(fake)
    expected_d = -(torch.log(d_x).mean() + torch.log(1 - d_gz).mean())
    assert torch.allclose(losses.d_loss_bce(real, fake), expected_d, atol=1e-6)
    assert torch.allclose(losses.g_loss_minimax(fake, None), torch.log(1 - d_gz).mean(), atol=1e-6)
    assert torch.allclose(
        losses.g_loss_non_saturating(fake, None), -torch.log(d_gz).mean(), atol=1e-6
    )


def test_minimax_gradient_vanishes_when_d_wins_non_saturating_does_not():
    confident = torch.full((8,), -12.0, requires_grad=True)  # D(G(z)) ~ 6e-6
    losses.g_loss_minimax(confident, None).backward()
    minimax_grad = confident.grad.abs().mean()
    confident.grad = None
    losses.g_loss_non_saturating(confident, None).backward()
    assert minimax_grad < 1e-5 and confident.grad.abs().mean() > 0.1


def test_losses_stay_finite_for_extreme_logits():
    big = torch.tensor([1e4, -1e4])
    assert torch.isfinite(losses.d_loss_bce(big, -big)) and torch.isfinite(
        losses.g_loss_non_saturating(-big)
    )
    assert torch.isfinite(losses.d_loss_relativistic(big, -big)) and torch.isfinite(
        losses.g_loss_relativistic(-big, big)
    )


# real = [0.5, 3], fake = [-2, 1]: mean real 1.75, mean fake -0.5; both hinge terms active.
REAL, FAKE = torch.tensor([0.5, 3.0]), torch.tensor([-2.0, 1.0])


def test_wasserstein_hinge_lsgan_on_hand_computed_values():
    assert losses.d_loss_wasserstein(REAL, FAKE).item() == -2.25  # -0.5 - 1.75
    assert losses.g_loss_critic(FAKE, None).item() == 0.5
    assert losses.d_loss_hinge(REAL, FAKE).item() == 1.25  # mean[.5, 0] + mean[0, 2]
    assert losses.d_loss_lsgan(REAL, FAKE).item() == 2.3125  # .5*mean[.25, 4] + .5*mean[4, 1]
    assert losses.g_loss_lsgan(FAKE, None).item() == 2.25  # .5*mean[9, 0]


def test_relativistic_matches_the_papers_sigmoid_form():
    def log_sig(v):
        return math.log(1 / (1 + math.exp(-v)))

    r, f = REAL.tolist(), FAKE.tolist()
    mr, mf = sum(r) / 2, sum(f) / 2
    d = (
        -sum(log_sig(x - mf) for x in r) / 2
        - sum(math.log(1 - math.exp(log_sig(y - mr))) for y in f) / 2
    )
    g = (
        -sum(log_sig(y - mr) for y in f) / 2
        - sum(math.log(1 - math.exp(log_sig(x - mf))) for x in r) / 2
    )
    assert losses.d_loss_relativistic(REAL, FAKE).item() == pytest.approx(d, rel=1e-6)
    assert losses.g_loss_relativistic(FAKE, REAL).item() == pytest.approx(g, rel=1e-6)
    # every sample equally real: each relative prob. 1/2, each side 2 log 2
    same = torch.full((3,), 0.7)
    assert losses.d_loss_relativistic(same, same).item() == pytest.approx(2 * math.log(2), rel=1e-6)
    assert losses.g_loss_relativistic(same, same).item() == pytest.approx(2 * math.log(2), rel=1e-6)


def test_registries_cover_every_kind_with_one_g_signature():
    assert set(losses.G_LOSSES) == set(losses.D_LOSSES) == set(losses.OUTPUT_KIND) == KINDS
    assert losses.G_NEEDS_REAL == {"relativistic", "rpgan"}
    assert set(losses.OUTPUT_KIND.values()) == {
        "logit",
        "relative-logit",
        "score",
        "critic",
        "margin",
    }
    for kind, g in losses.G_LOSSES.items():
        assert torch.isfinite(g(FAKE, REAL))
        if kind not in losses.G_NEEDS_REAL:
            assert g(FAKE, None) == g(FAKE, REAL)
    for kind in losses.G_NEEDS_REAL:
        with pytest.raises(ValueError, match="real"):
            losses.G_LOSSES[kind](FAKE, None)


def test_pairing_judges_each_fake_against_its_own_real():
    # pairs (0.5, -2) and (3, 1): D's loss mean[softplus(-2.5), softplus(-2)], G's signs swapped
    d = (math.log1p(math.exp(-2.5)) + math.log1p(math.exp(-2.0))) / 2
    g = (math.log1p(math.exp(2.5)) + math.log1p(math.exp(2.0))) / 2
    assert losses.d_loss_pairing(REAL, FAKE).item() == pytest.approx(d, rel=1e-6)
    assert losses.g_loss_pairing(FAKE, REAL).item() == pytest.approx(g, rel=1e-6)
    # unlike the average form, the pairing depends on which fake meets which real
    swapped = FAKE.flip(0)
    assert losses.d_loss_pairing(REAL, swapped) != losses.d_loss_pairing(REAL, FAKE)
    assert losses.d_loss_relativistic(REAL, swapped) == losses.d_loss_relativistic(REAL, FAKE)
    # a constant shift of D's outputs changes nothing: only differences count
    assert losses.d_loss_pairing(REAL + 7, FAKE + 7).item() == pytest.approx(d, rel=1e-5)


def test_relativistic_g_gets_gradient_from_the_real_term():
    fake = torch.zeros(4, requires_grad=True)
    real = torch.full((4,), 5.0)
    ra_grad = torch.autograd.grad(losses.g_loss_relativistic(fake, real), fake)[0]
    ns_grad = torch.autograd.grad(losses.g_loss_non_saturating(fake - real.mean()), fake)[0]
    assert (ra_grad < ns_grad).all()  # the E[log(1 - D~(x_r))] term pushes fake up as well


def linear_critic(w):
    return lambda x: (x * w).flatten(1).sum(1)


@pytest.mark.parametrize("shape", [(2,), (3, 4, 4)])
def test_gradient_penalty_of_a_linear_critic_is_closed_form(shape):
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(shape, generator=gen)
    real, fake = torch.randn(5, *shape, generator=gen), torch.randn(5, *shape, generator=gen)
    norm = w.norm().item()
    gp = losses.gradient_penalty(linear_critic(w), real, fake, torch.Generator().manual_seed(1))
    assert gp.item() == pytest.approx((norm - 1) ** 2, rel=1e-5)
    gp = losses.gradient_penalty(
        linear_critic(w), real, fake, torch.Generator().manual_seed(1), target=norm
    )
    assert gp.item() == pytest.approx(0.0, abs=1e-5)


def test_gradient_penalty_draws_eps_from_rng_and_never_trains_g():
    w = torch.tensor([1.0, -2.0])
    critic = lambda x: x**3 @ w  # noqa: E731  nonlinear, so the points matter
    real = torch.randn(6, 2, generator=torch.Generator().manual_seed(2))
    g_weight = torch.tensor(1.5, requires_grad=True)
    fake = g_weight * torch.ones(6, 2)
    a, b, c = (
        losses.gradient_penalty(critic, real, fake, torch.Generator().manual_seed(s))
        for s in (7, 7, 8)
    )
    assert a.item() == b.item() != c.item()
    assert torch.autograd.grad(a, g_weight, allow_unused=True)[0] is None


def test_gradient_penalty_under_torchrun_averages_to_one_process():
    """Each rank keeps its slice of the global batch's interpolation points (`shard`), so the
    ranks' mean penalty is one process's; ranks drawing their own would all reuse rank 0's."""
    w = torch.tensor([1.0, -2.0])
    critic = lambda x: x**3 @ w  # noqa: E731
    real = torch.randn(6, 2, generator=torch.Generator().manual_seed(2))
    fake = torch.randn(6, 2, generator=torch.Generator().manual_seed(3))
    whole = losses.gradient_penalty(critic, real, fake, torch.Generator().manual_seed(7))
    ranks = [
        losses.gradient_penalty(
            critic,
            real[r * 3 : (r + 1) * 3],
            fake[r * 3 : (r + 1) * 3],
            torch.Generator().manual_seed(7),
            shard=(r, 2),
        )
        for r in range(2)
    ]
    assert torch.stack(ranks).mean().item() == pytest.approx(whole.item(), rel=1e-6)
    alone = losses.gradient_penalty(critic, real[3:], fake[3:], torch.Generator().manual_seed(7))
    assert alone.item() != pytest.approx(ranks[1].item(), rel=1e-3)


def mlp_critic(seed, scale=1.0):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 1))
    with torch.no_grad():
        net[-1].weight.mul_(scale)
    return net


def mean_grad_norm(net, real, fake, rng):
    eps = torch.rand(len(real), 1, generator=rng)
    x = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(net(x).sum(), x)
    return grad.norm(dim=1).mean().item()


@pytest.fixture
def one_thread():
    """Hundreds of tiny steps: a second intra-op thread only adds sync cost."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize(
    "scale, lr, steps", [(0.01, 1e-2, 100), (50.0, 5e-3, 150)], ids=["flat", "steep"]
)
def test_gradient_penalty_drives_the_critic_gradient_norm_to_one(scale, lr, steps):
    data = torch.Generator().manual_seed(3)
    real, fake = (
        torch.randn(64, 2, generator=data) * 0.5 + 2,
        torch.randn(64, 2, generator=data) * 0.5,
    )
    net = mlp_critic(seed=0, scale=scale)
    before = mean_grad_norm(net, real, fake, torch.Generator().manual_seed(4))
    opt, rng = torch.optim.Adam(net.parameters(), lr=lr), torch.Generator().manual_seed(5)
    for _ in range(steps):
        opt.zero_grad()
        losses.gradient_penalty(net, real, fake, rng).backward()
        opt.step()
    after = mean_grad_norm(net, real, fake, torch.Generator().manual_seed(4))
    assert abs(before - 1) > 0.9 and abs(after - 1) < 0.05  # norms ~0.001 and ~5 at the start


def test_r1_is_zero_where_d_is_flat_and_the_squared_weight_norm_for_a_linear_d():
    real = torch.randn(8, 2, generator=torch.Generator().manual_seed(6))
    flat = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1))
    with torch.no_grad():
        flat[0].bias.fill_(-100.0)  # every hidden unit off around the data: D is constant there
    assert losses.r1_penalty(flat, real).item() == 0.0
    w = torch.tensor([3.0, 4.0])
    assert losses.r1_penalty(linear_critic(w), real).item() == pytest.approx(25.0, rel=1e-6)
    w_img = torch.full((1, 2, 2), 0.5)
    assert losses.r1_penalty(linear_critic(w_img), torch.randn(3, 1, 2, 2)).item() == pytest.approx(
        1.0, rel=1e-6
    )


def test_weight_clipping_bounds_every_weight_and_keeps_the_rest():
    net = mlp_critic(seed=1, scale=100.0)
    before = [p.detach().clone() for p in net.parameters()]
    losses.clip_weights_(net, 0.05)
    for old, p in zip(before, net.parameters(), strict=True):
        assert p.abs().max() <= 0.05 and p.requires_grad
        inside = old.abs() <= 0.05
        assert torch.equal(p[inside], old[inside]) and torch.equal(
            p[~inside], 0.05 * old[~inside].sign()
        )
    assert any((p.abs() == 0.05).any() for p in net.parameters())


@pytest.mark.parametrize("penalty", ["gp", "r1"])
def test_penalty_gradients_reach_every_weight_of_d(penalty):
    net = mlp_critic(seed=2)
    real, fake = torch.randn(16, 2), torch.randn(16, 2) + 1
    value = (
        losses.gradient_penalty(net, real, fake, torch.Generator().manual_seed(0))
        if penalty == "gp"
        else losses.r1_penalty(net, real)
    )
    value.backward()
    for layer in (net[0], net[2], net[4]):
        assert torch.isfinite(layer.weight.grad).all() and layer.weight.grad.abs().sum() > 0
