// Command pulumi-language-python is a small Pulumi language host for Python programs.
//
// The upstream host (module github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3)
// has no release tags, and the module proxy reachable from this project's machines serves it
// at no version we can name, so scripts/ensure-pulumi.sh builds this one instead, against the
// pinned github.com/pulumi/pulumi/sdk/v3. It implements the part of the LanguageRuntime
// protocol that `pulumi preview/up/refresh/destroy` use for a Python program in a virtualenv:
// it runs pulumi-language-python-exec (installed beside it from the same sdk/v3 release) with
// the project's virtualenv interpreter, exactly as the upstream host does. Users who install
// Pulumi normally get the upstream host and never build this.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	pbempty "google.golang.org/protobuf/types/known/emptypb"

	sdk "github.com/pulumi/pulumi/sdk/v3"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/version"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// exitAfterUserMessage is the exec script's code for "an error was already shown to the user".
const exitAfterUserMessage = 32

// engineCheckInterval is how often the host asks whether the engine (the pulumi CLI) is still
// there. Upstream's hosts ask every 5 minutes (rpcutil.Healthcheck in
// sdk/python/cmd/pulumi-language-python/main.go); a host whose CLI was killed then lingers for
// minutes, so this one asks every second: a refused connection fails at once.
const engineCheckInterval = time.Second

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	engineAddress string
	execScript    string
	// engineGone is cancelled when the engine stops answering: the server stops, and so
	// does any program it is running.
	engineGone context.Context
	// stopping is cancelled when the engine is gone or the host gets SIGINT/SIGTERM (the CLI
	// interrupts a plugin's process group, then kills it 5 s later): running plugins are stopped.
	stopping context.Context
	// plugins are the running RunPlugin calls: main waits for them (and so for their processes)
	// before exiting, or a plugin outlives the host unkillable by the CLI's process-group kill.
	plugins pluginSet
}

func main() {
	flag.String("tracing", "", "ignored: tracing endpoint")
	flag.String("root", "", "ignored: project root (taken from each request)")
	flag.Parse()
	if flag.NArg() < 1 {
		fmt.Fprintln(os.Stderr, "usage: pulumi-language-python [flags] ENGINE_ADDRESS")
		os.Exit(2)
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "fatal: %v\n", err)
		os.Exit(1)
	}
	engineGone, engineLost := context.WithCancel(context.Background())
	stopping, stop := signal.NotifyContext(engineGone, os.Interrupt, syscall.SIGTERM)
	defer stop()
	h := &host{
		engineAddress: flag.Arg(flag.NArg() - 1),
		execScript:    filepath.Join(filepath.Dir(self), "pulumi-language-python-exec"),
		engineGone:    engineGone,
		stopping:      stopping,
	}
	if err := rpcutil.Healthcheck(engineGone, h.engineAddress, engineCheckInterval, engineLost); err != nil {
		fmt.Fprintf(os.Stderr, "fatal: %v\n", err)
		os.Exit(1)
	}
	stopServing := make(chan bool)
	context.AfterFunc(stopping, func() { close(stopServing) })
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: stopServing,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, h)
			return nil
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "fatal: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("%d\n", handle.Port)
	err = <-handle.Done
	h.plugins.wait() // each stops within pluginStopGrace once stopping is done
	if err != nil {
		fmt.Fprintf(os.Stderr, "fatal: %v\n", err)
		os.Exit(1)
	}
}

func (h *host) Handshake(
	context.Context, *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(context.Context, *pbempty.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version.Version}, nil
}

// GetRequiredPackages reports none: a dynamic provider needs only the pulumi-python shim on PATH.
func (h *host) GetRequiredPackages(
	context.Context, *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

func (h *host) GetRequiredPlugins(
	context.Context, *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return &pulumirpc.GetRequiredPluginsResponse{}, nil
}

func (h *host) GetProgramDependencies(
	context.Context, *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	return &pulumirpc.GetProgramDependenciesResponse{}, nil
}

func (h *host) About(_ context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	return &pulumirpc.AboutResponse{Executable: python(req.GetInfo())}, nil
}

// Run executes the program through pulumi-language-python-exec, as the upstream host does.
func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	// A stack with no config at all sends none: pass an empty object and list, not JSON null,
	// which the Python SDK's set_all_config cannot take (upstream sets no variable instead).
	configMap, secretKeyList := req.GetConfig(), req.GetConfigSecretKeys()
	if configMap == nil {
		configMap = map[string]string{}
	}
	if secretKeyList == nil {
		secretKeyList = []string{}
	}
	config, err := json.Marshal(configMap)
	if err != nil {
		return nil, err
	}
	secretKeys, err := json.Marshal(secretKeyList)
	if err != nil {
		return nil, err
	}
	// The program stops when its Run call is cancelled or when the engine is gone.
	ctx, stopProgram := context.WithCancel(ctx)
	defer stopProgram()
	defer context.AfterFunc(h.engineGone, stopProgram)()
	interpreter := python(req.GetInfo())
	args := []string{
		"-u", h.execScript,
		"--monitor", req.GetMonitorAddress(),
		"--engine", h.engineAddress,
		"--project", req.GetProject(),
		"--stack", req.GetStack(),
		"--pwd", req.GetPwd(),
		"--dry_run", strconv.FormatBool(req.GetDryRun()),
		"--parallel", strconv.Itoa(int(req.GetParallel())),
		"--organization", req.GetOrganization(),
		"--root_directory", req.GetInfo().GetRootDirectory(),
		req.GetProgram(),
	}
	cmd := exec.CommandContext(ctx, interpreter, append(args, req.GetArgs()...)...)
	cmd.Dir = req.GetPwd()
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(),
		"PULUMI_CONFIG="+string(config),
		"PULUMI_CONFIG_SECRET_KEYS="+string(secretKeys),
		"PYTHONUNBUFFERED=1",
	)
	if venv := virtualenv(req.GetInfo()); venv != "" {
		cmd.Env = append(cmd.Env,
			"VIRTUAL_ENV="+venv,
			"PATH="+filepath.Join(venv, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	}
	err = cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return &pulumirpc.RunResponse{}, nil
	case errors.As(err, &exitErr) && exitErr.ExitCode() == exitAfterUserMessage:
		return &pulumirpc.RunResponse{Bail: true}, nil
	case errors.As(err, &exitErr):
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited with non-zero exit code: %d", exitErr.ExitCode())}, nil
	default:
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("could not start %s: %v", interpreter, err)}, nil
	}
}

// virtualenv is the absolute path of the runtime option `virtualenv`, or "".
func virtualenv(info *pulumirpc.ProgramInfo) string {
	venv := info.GetOptions().GetFields()["virtualenv"].GetStringValue()
	if venv == "" || filepath.IsAbs(venv) {
		return venv
	}
	return filepath.Join(info.GetRootDirectory(), venv)
}

// python is the virtualenv's interpreter, else PULUMI_PYTHON_CMD, else python3.
func python(info *pulumirpc.ProgramInfo) string {
	if venv := virtualenv(info); venv != "" {
		return filepath.Join(venv, "bin", "python")
	}
	if cmd := os.Getenv("PULUMI_PYTHON_CMD"); cmd != "" {
		return cmd
	}
	return "python3"
}

// InstallDependencies makes the program's virtualenv (the runtime option `virtualenv`) when it is
// missing and installs the project's requirements into it, as upstream's host does for
// `pulumi install` and `pulumi new` (sdk/python/cmd/pulumi-language-python/main.go,
// InstallDependencies): from requirements.lock with --require-hashes when the project has one
// (this project's locked install), else from requirements.txt. pip's output streams back.
func (h *host) InstallDependencies(
	req *pulumirpc.InstallDependenciesRequest, server pulumirpc.LanguageRuntime_InstallDependenciesServer,
) error {
	info := req.GetInfo()
	venv := virtualenv(info)
	if venv == "" {
		return errors.New("Pulumi.yaml's runtime has no `virtualenv` option: this language host installs into a virtualenv only")
	}
	out := &streamSender[*pulumirpc.InstallDependenciesResponse]{server: server}
	defer out.close()
	run := func(name string, args ...string) error {
		cmd := exec.CommandContext(server.Context(), name, args...)
		cmd.Dir = info.GetRootDirectory()
		cmd.Stdout = writerFunc(func(b []byte) error { return out.send(&pulumirpc.InstallDependenciesResponse{Stdout: b}) })
		cmd.Stderr = writerFunc(func(b []byte) error { return out.send(&pulumirpc.InstallDependenciesResponse{Stderr: b}) })
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
		}
		return nil
	}
	venvPython := filepath.Join(venv, "bin", "python")
	if _, err := os.Stat(venvPython); err != nil {
		base := os.Getenv("PULUMI_PYTHON_CMD")
		if base == "" {
			base = "python3"
		}
		if err := run(base, "-m", "venv", venv); err != nil {
			return err
		}
	}
	requirements := []string{"-r", "requirements.txt"}
	if _, err := os.Stat(filepath.Join(info.GetRootDirectory(), "requirements.lock")); err == nil {
		requirements = []string{"--require-hashes", "--no-deps", "-r", "requirements.lock"}
	}
	return run(venvPython, append([]string{"-m", "pip", "install", "--disable-pip-version-check"}, requirements...)...)
}

// packConfigNamespace is the config a policy pack is given: this project's own keys.
const packConfigNamespace = "bitlocker-policy:"

// pluginStopGrace is how long a cancelled plugin gets after SIGINT before SIGKILL, and how long
// RunPlugin then waits for its output pipes to close.
const pluginStopGrace = 5 * time.Second

// RunPlugin runs a plugin written in Python whose directory the CLI names, as upstream's host
// does (sdk/python/cmd/pulumi-language-python/main.go, RunPlugin). The CLI uses it to start a
// policy pack (`pulumi preview --policy-pack DIR`, PulumiPolicy.yaml `runtime: python`):
//
//	python -u -m pulumi.policy [--logtostderr] [-v=N] [--tracing X] ENGINE_ADDRESS PACK_DIR
//
// in the pack directory, with the interpreter of the runtime option `virtualenv` (relative to
// the pack directory), else PULUMI_PYTHON_CMD, else python3. `pulumi.policy` (a module of the
// pulumi SDK) runs the pack's __main__.py, whose PolicyPack(...) serves the Analyzer protocol
// and prints its port. Between the CLI and the pack sits sdk.PolicyProxy: it prints its own
// port, takes the engine's Handshake and ConfigureStack, and only then is the pack started,
// with the stack's project/stack/organization/dry-run and (decrypted) config in
// PULUMI_PROJECT, PULUMI_STACK, PULUMI_ORGANIZATION, PULUMI_DRY_RUN and PULUMI_CONFIG, which
// pulumi_policy hands to pulumi.Config. Every later Analyzer call is forwarded to the pack.
// Policy packs are the only plugins this project writes in Python: another kind is refused.
//
// The process's stdout and stderr stream back as RunPluginResponse messages (the CLI reads the
// port from stdout); its exit code is the last message. Cancelling the call (the CLI kills the
// plugin), losing the engine or a SIGINT/SIGTERM to the host interrupts the process, then kills
// it after pluginStopGrace.
func (h *host) RunPlugin(req *pulumirpc.RunPluginRequest, server pulumirpc.LanguageRuntime_RunPluginServer) error {
	if req.GetKind() != string(apitype.AnalyzerPlugin) {
		return fmt.Errorf("this language host runs Python policy packs only, not a %q plugin", req.GetKind())
	}
	if !h.plugins.start() {
		return errors.New("the language host is stopping")
	}
	defer h.plugins.done()
	ctx, stop := context.WithCancel(server.Context())
	defer stop()
	defer context.AfterFunc(h.stopping, stop)()

	// gRPC forbids concurrent Send calls and any Send after the handler returns; the process's
	// stdout and stderr are copied by separate goroutines, so sends are serialised and end here.
	out := &streamSender[*pulumirpc.RunPluginResponse]{server: server}
	defer out.close()
	stdout := io.Writer(writerFunc(func(b []byte) error {
		return out.send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stdout{Stdout: b}})
	}))
	stderr := writerFunc(func(b []byte) error {
		return out.send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stderr{Stderr: b}})
	})

	info := req.GetInfo()
	interpreter := python(info)
	args := append(append([]string{"-u", "-m", "pulumi.policy"}, req.GetArgs()...), info.GetProgramDirectory())
	cmd := exec.CommandContext(ctx, interpreter, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = pluginStopGrace
	cmd.Dir = info.GetProgramDirectory() // upstream runs policy packs in their own directory
	// req.Env is the CLI's environment for the plugin (its own, plus credentials and the like).
	cmd.Env = append([]string{}, req.GetEnv()...)
	if venv := virtualenv(info); venv != "" {
		cmd.Env = append(cmd.Env,
			"VIRTUAL_ENV="+venv,
			"PATH="+filepath.Join(venv, "bin")+string(os.PathListSeparator)+lookupEnv(req.GetEnv(), "PATH"))
	}
	cmd.Env = append(cmd.Env, "PYTHONUNBUFFERED=1")

	// The proxy prints its port to the real stdout; stdout becomes the pipe from which it
	// reads the pack's port, passing everything after it on to the real stdout.
	proxy, stdout, err := sdk.NewPolicyProxy(ctx, stdout)
	if err != nil {
		return fmt.Errorf("could not start policy pack proxy: %w", err)
	}
	config, err := proxy.AwaitConfiguration(ctx) // nil when the CLI asks anything else first
	if err != nil {
		return fmt.Errorf("could not get stack configuration: %w", err)
	}
	if config != nil {
		setEnv := func(k, v string) {
			if v != "" {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
		}
		setEnv("PULUMI_ORGANIZATION", config.GetOrganization())
		setEnv("PULUMI_PROJECT", config.GetProject())
		setEnv("PULUMI_STACK", config.GetStack())
		setEnv("PULUMI_DRY_RUN", strconv.FormatBool(config.GetDryRun()))
		// Only the project's own keys reach the pack: its rule reads bitlocker-policy:* alone, and the
		// rest (a client secret, a certificate's password) has no business in its environment.
		own := map[string]string{}
		for key, value := range config.GetConfig() {
			if strings.HasPrefix(key, packConfigNamespace) {
				own[key] = value
			}
		}
		configJSON, err := json.Marshal(own)
		if err != nil {
			return fmt.Errorf("could not marshal stack configuration: %w", err)
		}
		setEnv("PULUMI_CONFIG", string(configJSON))
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr

	if err = cmd.Start(); err != nil {
		proxy.Abort(err)
		return fmt.Errorf("could not start %s: %w", interpreter, err)
	}
	// Attach reads the pack's port, connects, forwards ConfigureStack, and waits for the
	// process to exit (it calls cmd.Wait itself). Not with ctx: cancelled, Attach would
	// return at once, before cmd.Wait has stopped the process (SIGINT, then SIGKILL).
	err = proxy.Attach(context.WithoutCancel(ctx), cmd)
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return out.send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: 0}})
	case errors.As(err, &exitErr):
		code := exitErr.ExitCode() // -1 when a signal ended it
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
		return out.send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: int32(code)}})
	case ctx.Err() != nil:
		return ctx.Err()
	default:
		// e.g. the pack exited before printing its port: its stderr has already been sent.
		return fmt.Errorf("plugin %s: %w", info.GetProgramDirectory(), err)
	}
}

// streamSender serialises Send calls on a server stream (RunPlugin's, InstallDependencies') and
// refuses them once closed.
type streamSender[M any] struct {
	mu     sync.Mutex
	closed bool
	server interface{ Send(M) error }
}

func (s *streamSender[M]) send(msg M) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return io.ErrClosedPipe
	}
	return s.server.Send(msg)
}

func (s *streamSender[M]) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

// writerFunc is an io.Writer that hands each write (copied) to a function.
type writerFunc func([]byte) error

func (f writerFunc) Write(b []byte) (int, error) {
	if err := f(append([]byte(nil), b...)); err != nil {
		return 0, err
	}
	return len(b), nil
}

// lookupEnv is the last value of key in env ("KEY=value" entries), else this process's value.
func lookupEnv(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v
		}
	}
	return os.Getenv(key)
}

// pluginSet counts running plugins; once wait has begun, no plugin starts (sync.WaitGroup forbids
// an Add from zero that races a Wait).
type pluginSet struct {
	mu      sync.Mutex
	closing bool
	running sync.WaitGroup
}

// start counts a plugin in, or says false when the host is stopping.
func (p *pluginSet) start() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		return false
	}
	p.running.Add(1)
	return true
}

// done counts a plugin out.
func (p *pluginSet) done() { p.running.Done() }

// wait refuses new plugins and waits for the running ones.
func (p *pluginSet) wait() {
	p.mu.Lock()
	p.closing = true
	p.mu.Unlock()
	p.running.Wait()
}
