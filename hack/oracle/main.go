// Command oracle runs the upstream Kubernetes structured DRA allocator
// (k8s.io/dynamic-resource-allocation/structured) on test cases read as JSON
// lines from stdin and writes one JSON answer line per case to stdout. It is
// the reference for gpuplane's differential tests (tests/difftest/).
//
// Input line:
//
//	{"id": any, "node": "node-1", "features": {"DRAPrioritizedList": true, ...},
//	 "objects": [Node, DeviceClass, ResourceSlice, ResourceClaim, ...],
//	 "bench_iterations": N}
//
// Output line:
//
//	{"id": ..., "status": "ok", "allocator": "incubating", "allocations": [AllocationResult, ...]}
//	{"id": ..., "status": "unsat", "allocator": "incubating"}
//	{"id": ..., "status": "error", "error": "..."}
//
// plus "latencies_ns": [N ints] when bench_iterations > 0.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/dynamic-resource-allocation/cel"
	"k8s.io/dynamic-resource-allocation/structured"
	"k8s.io/utils/ptr"
	kjson "sigs.k8s.io/json"
)

// allocateTimeout mirrors kube-scheduler's default DynamicResources filterTimeout.
const allocateTimeout = 10 * time.Second

// celCacheSize: the cache only affects speed, never results.
const celCacheSize = 1024

type request struct {
	ID              json.RawMessage   `json:"id"`
	Node            string            `json:"node"`
	Features        map[string]bool   `json:"features"`
	Objects         []json.RawMessage `json:"objects"`
	BenchIterations int               `json:"bench_iterations"`
}

type response struct {
	ID          json.RawMessage                 `json:"id"`
	Status      string                          `json:"status"`
	Allocator   string                          `json:"allocator,omitempty"`
	Allocations *[]resourceapi.AllocationResult `json:"allocations,omitempty"`
	Error       string                          `json:"error,omitempty"`
	LatenciesNs []int64                         `json:"latencies_ns,omitempty"`
}

// featureDefaults: Kubernetes 1.37 defaults for the gates that reach the
// allocator. DeviceBindingAndStatus = DRADeviceBindingConditions &&
// DRAResourceClaimDeviceStatus. The last four exist in structured.Features
// v0.37.2 but are not part of the oracle's documented protocol; they default
// to off (see README in this directory).
var featureDefaults = map[string]bool{
	"DRAPrioritizedList":           true,
	"DRAAdminAccess":               true,
	"DRAPartitionableDevices":      true,
	"DRADeviceTaints":              true,
	"DRAConsumableCapacity":        true,
	"DRADeviceBindingConditions":   true,
	"DRAResourceClaimDeviceStatus": true,
	"DRAListTypeAttributes":        false,
	"DRAFractionalCapacityRange":   false,
	"DRADerivedAttributes":         false,
	"DRADeviceCompatibilityGroups": false,
	"DRAOptionalNodeOperations":    false,
}

func resolveFeatures(in map[string]bool) (structured.Features, cel.Features, error) {
	f := make(map[string]bool, len(featureDefaults))
	for k, v := range featureDefaults {
		f[k] = v
	}
	var unknown []string
	for k, v := range in {
		if _, ok := featureDefaults[k]; !ok {
			unknown = append(unknown, k)
			continue
		}
		f[k] = v
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return structured.Features{}, cel.Features{}, fmt.Errorf("unknown feature(s): %s", strings.Join(unknown, ", "))
	}
	sf := structured.Features{
		AdminAccess:             f["DRAAdminAccess"],
		CompatibilityGroups:     f["DRADeviceCompatibilityGroups"],
		ConsumableCapacity:      f["DRAConsumableCapacity"],
		DerivedAttributes:       f["DRADerivedAttributes"],
		DeviceBindingAndStatus:  f["DRADeviceBindingConditions"] && f["DRAResourceClaimDeviceStatus"],
		DeviceTaints:            f["DRADeviceTaints"],
		FractionalCapacityRange: f["DRAFractionalCapacityRange"],
		ListTypeAttributes:      f["DRAListTypeAttributes"],
		OptionalNodeOperations:  f["DRAOptionalNodeOperations"],
		PartitionableDevices:    f["DRAPartitionableDevices"],
		PrioritizedList:         f["DRAPrioritizedList"],
	}
	cf := cel.Features{
		EnableConsumableCapacity: f["DRAConsumableCapacity"],
		EnableListTypeAttributes: f["DRAListTypeAttributes"],
	}
	return sf, cf, nil
}

// One CEL cache per CEL feature combination: the cache key is only the
// expression, so results compiled under other features must not be reused.
var (
	celCachesMu sync.Mutex
	celCaches   = map[cel.Features]*cel.Cache{}
)

func celCacheFor(f cel.Features) *cel.Cache {
	celCachesMu.Lock()
	defer celCachesMu.Unlock()
	c := celCaches[f]
	if c == nil {
		c = cel.NewCache(celCacheSize, f)
		celCaches[f] = c
	}
	return c
}

// classLister is a simple structured.DeviceClassLister over the input classes.
// Get of an unknown name returns the same NotFound error as an informer lister.
type classLister struct {
	list   []*resourceapi.DeviceClass
	byName map[string]*resourceapi.DeviceClass
}

func (l *classLister) List() ([]*resourceapi.DeviceClass, error) { return l.list, nil }

func (l *classLister) Get(name string) (*resourceapi.DeviceClass, error) {
	if c, ok := l.byName[name]; ok {
		return c, nil
	}
	return nil, apierrors.NewNotFound(resourceapi.Resource("deviceclass"), name)
}

type caseInput struct {
	node           *v1.Node
	classes        *classLister
	slices         []*resourceapi.ResourceSlice
	allocated      []*resourceapi.ResourceClaim
	toAllocate     []*resourceapi.ResourceClaim
	features       structured.Features
	celFeatures    cel.Features
	benchIteration int
}

type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// strictDecode decodes case-sensitively (as the apiserver does) and rejects
// unknown or duplicate fields, so generator mistakes (e.g. v1beta1 shapes)
// surface as input errors instead of silently dropped data.
func strictDecode(data []byte, into any) error {
	strictErrs, err := kjson.UnmarshalStrict(data, into)
	if err != nil {
		return err
	}
	if len(strictErrs) > 0 {
		msgs := make([]string, len(strictErrs))
		for i, e := range strictErrs {
			msgs[i] = e.Error()
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	return nil
}

func decodeCase(req *request) (*caseInput, error) {
	sf, cf, err := resolveFeatures(req.Features)
	if err != nil {
		return nil, err
	}
	if req.Node == "" {
		return nil, errors.New(`"node" is required`)
	}
	if req.BenchIterations < 0 {
		return nil, errors.New(`"bench_iterations" must be >= 0`)
	}
	in := &caseInput{
		classes:        &classLister{byName: map[string]*resourceapi.DeviceClass{}},
		features:       sf,
		celFeatures:    cf,
		benchIteration: req.BenchIterations,
	}
	for i, raw := range req.Objects {
		var tm typeMeta
		if err := json.Unmarshal(raw, &tm); err != nil {
			return nil, fmt.Errorf("objects[%d]: %w", i, err)
		}
		wantAPIVersion := resourceapi.SchemeGroupVersion.String()
		if tm.Kind == "Node" {
			wantAPIVersion = "v1"
		}
		if tm.APIVersion != "" && tm.APIVersion != wantAPIVersion {
			return nil, fmt.Errorf("objects[%d]: kind %s: apiVersion %q not supported, want %q", i, tm.Kind, tm.APIVersion, wantAPIVersion)
		}
		switch tm.Kind {
		case "Node":
			obj := &v1.Node{}
			if err := strictDecode(raw, obj); err != nil {
				return nil, fmt.Errorf("objects[%d] (Node): %w", i, err)
			}
			if obj.Name == req.Node && in.node == nil {
				in.node = obj
			}
		case "DeviceClass":
			obj := &resourceapi.DeviceClass{}
			if err := strictDecode(raw, obj); err != nil {
				return nil, fmt.Errorf("objects[%d] (DeviceClass): %w", i, err)
			}
			if _, dup := in.classes.byName[obj.Name]; dup {
				return nil, fmt.Errorf("objects[%d]: duplicate DeviceClass %q", i, obj.Name)
			}
			in.classes.byName[obj.Name] = obj
			in.classes.list = append(in.classes.list, obj)
		case "ResourceSlice":
			obj := &resourceapi.ResourceSlice{}
			if err := strictDecode(raw, obj); err != nil {
				return nil, fmt.Errorf("objects[%d] (ResourceSlice): %w", i, err)
			}
			in.slices = append(in.slices, obj)
		case "ResourceClaim":
			obj := &resourceapi.ResourceClaim{}
			if err := strictDecode(raw, obj); err != nil {
				return nil, fmt.Errorf("objects[%d] (ResourceClaim): %w", i, err)
			}
			if obj.Status.Allocation != nil {
				in.allocated = append(in.allocated, obj)
			} else {
				in.toAllocate = append(in.toAllocate, obj)
			}
		default:
			return nil, fmt.Errorf("objects[%d]: unsupported kind %q", i, tm.Kind)
		}
	}
	if in.node == nil {
		in.node = &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: req.Node}}
	}
	return in, nil
}

// allocatedState mirrors kube-scheduler's foreachAllocatedDevice /
// GatherAllocatedState: admin-access results do not count; with
// DRAConsumableCapacity a result with a shareID is a shared allocation whose
// consumed capacity is aggregated, otherwise the device is exclusively in use.
func allocatedState(claims []*resourceapi.ResourceClaim, consumableCapacity bool) structured.AllocatedState {
	state := structured.AllocatedState{
		AllocatedDevices:         sets.New[structured.DeviceID](),
		AllocatedSharedDeviceIDs: sets.New[structured.SharedDeviceID](),
		AggregatedCapacity:       structured.NewConsumedCapacityCollection(),
	}
	for _, claim := range claims {
		if claim.Status.Allocation == nil {
			continue
		}
		for _, result := range claim.Status.Allocation.Devices.Results {
			if ptr.Deref(result.AdminAccess, false) {
				continue
			}
			deviceID := structured.MakeDeviceID(result.Driver, result.Pool, result.Device)
			if consumableCapacity && result.ShareID != nil {
				state.AllocatedSharedDeviceIDs.Insert(structured.MakeSharedDeviceID(deviceID, result.ShareID))
				if result.ConsumedCapacity != nil {
					state.AggregatedCapacity.Insert(structured.NewDeviceConsumedCapacity(deviceID, result.ConsumedCapacity))
				}
				continue
			}
			state.AllocatedDevices.Insert(deviceID)
		}
	}
	return state
}

// channel reports which implementation (stable/incubating/experimental)
// NewAllocator picked. The method's return type lives in an internal package,
// hence reflection.
func channel(a structured.Allocator) string {
	m := reflect.ValueOf(a).MethodByName("Channel")
	if !m.IsValid() || m.Type().NumIn() != 0 || m.Type().NumOut() != 1 {
		return ""
	}
	return m.Call(nil)[0].String()
}

func allocateOnce(a structured.Allocator, node *v1.Node, claims []*resourceapi.ResourceClaim) ([]resourceapi.AllocationResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), allocateTimeout)
	defer cancel()
	return a.Allocate(ctx, node, claims)
}

func runCase(req *request) (resp response) {
	resp.ID = req.ID
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(os.Stderr, "oracle: panic in case %s: %v\n%s", string(req.ID), r, debug.Stack())
			resp = response{ID: req.ID, Status: "error", Error: fmt.Sprintf("panic: %v", r)}
		}
	}()
	in, err := decodeCase(req)
	if err != nil {
		return response{ID: req.ID, Status: "error", Error: "input: " + err.Error()}
	}

	ctx, cancel := context.WithTimeout(context.Background(), allocateTimeout)
	defer cancel()
	state := allocatedState(in.allocated, in.features.ConsumableCapacity)
	alloc, err := structured.NewAllocator(ctx, in.features, state, in.classes, in.slices, celCacheFor(in.celFeatures))
	if err != nil {
		return response{ID: req.ID, Status: "error", Error: err.Error()}
	}
	resp.Allocator = channel(alloc)

	results, err := allocateOnce(alloc, in.node, in.toAllocate)
	switch {
	case err != nil:
		resp.Status = "error"
		resp.Error = err.Error()
	case results == nil:
		resp.Status = "unsat"
	default:
		resp.Status = "ok"
		resp.Allocations = &results
	}

	if in.benchIteration > 0 {
		resp.LatenciesNs = make([]int64, in.benchIteration)
		for i := range resp.LatenciesNs {
			start := time.Now()
			_, _ = allocateOnce(alloc, in.node, in.toAllocate)
			resp.LatenciesNs[i] = time.Since(start).Nanoseconds()
		}
	}
	return resp
}

// handleLine never fails: every input line yields exactly one answer.
func handleLine(line []byte) response {
	var req request
	if err := strictDecode(line, &req); err != nil {
		// Salvage the id if possible so the answer can be matched.
		var idOnly struct {
			ID json.RawMessage `json:"id"`
		}
		_ = json.Unmarshal(line, &idOnly)
		return response{ID: idOnly.ID, Status: "error", Error: "input: " + err.Error()}
	}
	return runCase(&req)
}

func main() {
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	defer out.Flush()
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	for {
		line, err := in.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			resp := handleLine(line)
			if resp.ID == nil {
				resp.ID = json.RawMessage("null")
			}
			if encErr := enc.Encode(&resp); encErr != nil {
				fmt.Fprintf(os.Stderr, "oracle: encoding answer: %v\n", encErr)
				os.Exit(1)
			}
		}
		// Flush whenever no further input is already buffered, so that
		// interactive (line-by-line) use works and batches stay fast.
		if in.Buffered() == 0 || err != nil {
			if ferr := out.Flush(); ferr != nil {
				os.Exit(1)
			}
		}
		if err == io.EOF {
			return
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "oracle: reading stdin: %v\n", err)
			os.Exit(1)
		}
	}
}
