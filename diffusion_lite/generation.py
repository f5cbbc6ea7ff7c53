"""Drawing many images from a trained model: in batches, from one seed, with a progress bar.

This is what the command line's `sample` and `train --evaluate`, the benchmarks and chapters 04–06
call. The sampling mathematics is `samplers` and `DDPM.sample`; this module only decides how the
N images are cut into batches, which generator each batch draws from, and the number format.
"""
from __future__ import annotations

from pathlib import Path

import torch

from .precision import autocast, resolve

SAMPLE_BATCH = 100  # images per network call: a 28×28 UNet's activations for 100 images stay in a CPU's caches


def generate(ddpm, num: int, sampler: str, steps: int | None, seed: int, eta: float = 0.0,
             batch_size: int = SAMPLE_BATCH, progress: bool = True, labels=None, guidance_scale: float = 1.0,
             cache_every: int = 1, last_t: int | None = None, precision: str = "auto", workers: int = 1,
             edit=None) -> torch.Tensor:
    """`num` images (N, C, H, W) in [−1, 1] from `ddpm`, drawn in batches of `batch_size`.

    Timesteps use "trailing" spacing, so that the first step starts from pure noise for any number of
    steps; with `last_t` they are spaced evenly from t = T − 1 down to t = last_t (chapter 05, section 6).
    The network computes in `precision` (`precision.resolve`: "auto" is bfloat16 autocast where the CPU
    computes it natively, float32 elsewhere; chapter 03 measures both).
    `labels` (N,) steer a class-conditional model with classifier-free guidance at `guidance_scale`:
    ε̃ = ε̂(x_t, t, ∅) + w·(ε̂(x_t, t, y) − ε̂(x_t, t, ∅)), where w = 1 is no guidance (`guidance`).
    `cache_every` > 1 runs the whole UNet on every that-many-th call only and reuses its deep features
    between (`unet.DeepCache`, chapter 05). `edit(batch, generator)`, given, returns more keyword arguments
    of `DDPM.sample` for the images `batch` (a slice): the inputs and masks of an edit (`editing`).

    With `workers` = 1 every batch draws from one generator seeded with `seed`, batch after batch, so the
    images depend on `batch_size`. `workers` > 1 samples that many batches at once, each in its own
    Python thread on one torch thread (a core each suits the network's many small operations better
    than splitting one batch between cores); batch k then draws from its own generator, whose seed is
    the k-th draw from `seed`, so the images are the same for any `workers` > 1 but differ from those
    of `workers` = 1.
    """
    from concurrent.futures import ThreadPoolExecutor

    from tqdm.auto import tqdm
    for name, value in (("num", num), ("batch_size", batch_size), ("workers", workers)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    resolve(precision)  # refuses an unknown name before any work
    spacing = "trailing" if last_t is None else "linspace"
    ddpm.sampling_timesteps(steps, spacing, last_t)  # refuses a bad `steps` or `last_t` before any work
    g = torch.Generator().manual_seed(seed)
    cfg, device = ddpm.network.config, next(ddpm.parameters()).device
    options = {"eta": eta} if sampler == "ddim" else {}
    starts = range(0, num, batch_size)

    def batch(start, generator):  # autocast is per thread, so each batch enters it itself
        n = min(batch_size, num - start)
        guide = {} if labels is None else {"labels": labels[start:start + n], "guidance_scale": guidance_scale}
        if edit is not None:
            guide.update(edit(slice(start, start + n), generator))
        with autocast(precision):
            return ddpm.sample((n, cfg.in_channels, cfg.image_size, cfg.image_size), device, generator=generator,
                               num_steps=steps, sampler=sampler, cache_every=cache_every,
                               spacing=spacing, last_t=last_t,
                               **guide, **options).float()

    with tqdm(total=len(starts), disable=not progress, desc=f"{sampler} x{steps or ddpm.timesteps}") as bar:
        if workers == 1:
            out = []
            for start in starts:
                out.append(batch(start, g))
                bar.update()
            return torch.cat(out)
        seeds = torch.randint(2**62, (len(starts),), generator=g).tolist()
        was_training, threads = ddpm.network.training, torch.get_num_threads()
        ddpm.network.eval()  # here, not in each thread: a thread's sample() would restore train mode under the others
        torch.set_num_threads(1)  # the worker threads see this setting too
        try:
            with ThreadPoolExecutor(workers) as pool:
                futures = [pool.submit(batch, start, torch.Generator().manual_seed(s)) for start, s in zip(starts, seeds)]
                for f in futures:
                    f.add_done_callback(lambda _: bar.update())
                return torch.cat([f.result() for f in futures])
        finally:
            torch.set_num_threads(threads)
            ddpm.network.train(was_training)


@torch.no_grad()
def ode_sample(ddpm, x_T: torch.Tensor, tolerance: float = 1e-3, batch_size: int = SAMPLE_BATCH,
               precision: str = "auto") -> tuple[torch.Tensor, int]:
    """Images from the starting noise x_T by the model's probability-flow ODE (`samplers.probability_flow`),
    integrated by SciPy's adaptive RK45 at rtol = atol = `tolerance` from the sampling grid's σ_max down to
    its σ_min, then one call for x̂0 there; the model's x̂0 clipping is not applied (it is not part of the ODE).
    All images form one state, so they share the solver's steps. Returns (images in [−1, 1], network calls
    per image)."""
    import math

    from scipy.integrate import solve_ivp

    from .samplers import probability_flow, sigma_at
    if not tolerance > 0:
        raise ValueError(f"tolerance must be > 0, got {tolerance}")
    if hasattr(ddpm, "on_line"):  # its network reads the line's states, not the σ view's
        raise ValueError("ode_sample integrates a DDPM's probability-flow ODE; sample a flow-matching model with "
                         "generate() (its ODE's Euler step is DDIM, and heun and dpmpp_2m solve it too)")
    grid = ddpm.grid or ddpm.schedule
    sigma_max, sigma_min = sigma_at(grid, grid.num_timesteps - 1), sigma_at(grid, 0)
    f = probability_flow(ddpm.network, ddpm.schedule, ddpm.prediction_type)
    shape = x_T.shape

    def batched(log_sigma, x):  # the network on batch_size images at a time, as generate() does
        with autocast(precision):
            return torch.cat([f(log_sigma, x[i:i + batch_size]).float() for i in range(0, len(x), batch_size)])

    def fun(log_sigma, y):
        return batched(log_sigma, torch.from_numpy(y).float().view(shape)).double().numpy().ravel()

    was_training = ddpm.network.training
    ddpm.network.eval()
    try:
        x_tilde = x_T.double() * math.sqrt(1 + sigma_max**2)  # x̃ = x_T/√ᾱ
        sol = solve_ivp(fun, (math.log(sigma_max), math.log(sigma_min)), x_tilde.numpy().ravel(), method="RK45",
                        rtol=tolerance, atol=tolerance)
        if not sol.success:
            raise RuntimeError(f"solve_ivp failed: {sol.message}")
        x_end = torch.from_numpy(sol.y[:, -1]).float().view(shape)
        x0 = x_end - batched(math.log(sigma_min), x_end)  # x̂0 = x̃ − σ·ε̂, and f returns σ·ε̂
    finally:
        ddpm.network.train(was_training)
    return x0.clamp(-1, 1), sol.nfev + 1


EDIT_MODES = ("inpaint", "sdedit")


def edit(ddpm, images: torch.Tensor, mode: str, mask=None, strength: float = 0.6, method: str = "replace",
         jump_length: int = 5, resample: int = 3, sampler: str = "ddim", steps: int = 50, seed: int = 0,
         labels=None, guidance_scale: float = 1.0, batch_size: int = SAMPLE_BATCH, precision: str = "auto",
         progress: bool = True) -> torch.Tensor:
    """`images` (N, 1, H, W) in [−1, 1] edited by a pixel-space `ddpm`, in batches as `generate` draws:
    mode "inpaint" generates where `mask` is 1 (`method` "replace" or "repaint", with its `jump_length`
    and `resample`), mode "sdedit" redraws the images from `strength` ∈ (0, 1] of the way to noise.
    `labels` and `guidance_scale` steer a class-conditional model (`editing` has the methods)."""
    from .editing import check_mask, inpaint_options, sdedit_options
    if mode not in EDIT_MODES:
        raise ValueError(f"unknown edit mode {mode!r}; choose one of {', '.join(EDIT_MODES)}")
    if mode == "inpaint":
        if mask is None:
            raise ValueError("inpainting needs a mask: 1 where the image is generated, 0 where it is kept")
        mask = check_mask(mask, images)
        options = lambda part, g: inpaint_options(ddpm, images[part], mask[part], steps, g, method,  # noqa: E731
                                                  jump_length, resample)
    else:  # sdedit_options refuses a strength outside (0, 1] at the first batch, before any sampling
        options = lambda part, g: sdedit_options(ddpm, images[part], strength, steps, g)  # noqa: E731
    return generate(ddpm, len(images), sampler, steps, seed, batch_size=batch_size, progress=progress,
                    labels=labels, guidance_scale=guidance_scale, precision=precision, edit=options)


def sample_labels(label: str | None, num: int, num_classes: int | None) -> torch.Tensor | None:
    """A label request as (N,) labels: one class for all (`"3"`), `"all"` for the classes in turn, or None."""
    if label is None:
        return None
    if not num_classes:
        raise ValueError("--label needs a class-conditional checkpoint; this one is unconditional")
    if label == "all":
        return torch.arange(num) % num_classes
    if not label.isdigit() or int(label) >= num_classes:
        raise ValueError(f"--label must be an integer in [0, {num_classes - 1}] or 'all', got {label!r}")
    return torch.full((num,), int(label))


def sample_prompts(prompt: str | None, prompts_file: str | None, num: int | None, tokenizer) -> list[str] | None:
    """A caption request as N captions: `prompt` for all `num` images (64 by default), or one image per
    non-empty line of `prompts_file`; each checked against the scenes' grammar before any work. `tokenizer`
    is the model's (None for one that reads no text)."""
    from .datasets import caption_items
    if prompt is None and prompts_file is None:
        if tokenizer is not None:
            raise ValueError("this checkpoint draws scenes from captions: give --prompt \"a bag in the top left\" "
                             "or --prompts-file FILE (one caption a line)")
        return None
    if tokenizer is None:
        raise ValueError("--prompt and --prompts-file need a text-to-image checkpoint such as scenes_ldm; this one "
                         "reads no text")
    if prompt is not None and prompts_file is not None:
        raise ValueError("give --prompt or --prompts-file, not both")
    if prompts_file is not None:
        if num is not None:
            raise ValueError("--num does not apply with --prompts-file: it draws one image per non-empty line")
        try:
            captions = [line.strip() for line in Path(prompts_file).read_text().splitlines() if line.strip()]
        except (FileNotFoundError, UnicodeDecodeError) as e:
            raise ValueError(f"--prompts-file: cannot read {prompts_file!r} as text ({e})") from None
        if not captions:
            raise ValueError(f"--prompts-file {prompts_file} holds no caption: write one caption a line")
    else:
        captions = [prompt.strip()] * (64 if num is None else num)
    for i, text in enumerate(captions):
        try:
            caption_items(text)
        except ValueError as e:
            where = f"line {i + 1} of {prompts_file}" if prompts_file else "--prompt"
            raise ValueError(f"{where}: {e}") from None
    return captions


@torch.no_grad()
def reconstruct(vae, images: torch.Tensor, batch_size: int = SAMPLE_BATCH, precision: str = "auto") -> torch.Tensor:
    """decode(mode of q(z|x)) for images (N, C, H, W) in [−1, 1], in batches: the autoencoder's best guess of
    each image from its latent, with no sampling noise."""
    was_training = vae.training
    vae.eval()
    try:
        with autocast(precision):
            return torch.cat([vae.decode(vae.encode(images[i:i + batch_size]).mode()).float()
                              for i in range(0, len(images), batch_size)])
    finally:
        vae.train(was_training)
